import type { z } from "zod";
import { InvalidMessageError, type Direction } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Validates then serialises. The parsed output is what goes on the wire, so unknown keys are
 * stripped (z.object's default) and defaults are filled in: receivers see exactly the schema.
 */
export function encode<S extends z.ZodType>(schema: S, msg: z.input<S>, subject: string, direction: Direction): Uint8Array {
  const r = schema.safeParse(msg);
  if (!r.success) throw InvalidMessageError.fromZod(subject, direction, r.error);
  return encoder.encode(JSON.stringify(r.data));
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: InvalidMessageError };

/** Never throws: a bad payload is a value the caller logs and counts. */
export function decode<S extends z.ZodType>(schema: S, data: Uint8Array, subject: string, direction: Direction): Decoded<z.output<S>> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (e) {
    const reason = data.length === 0 ? "empty payload" : `not JSON: ${(e as Error).message}`;
    return { ok: false, error: new InvalidMessageError(subject, direction, [{ field: "(json)", message: reason }], { cause: e }) };
  }
  const r = schema.safeParse(json);
  if (!r.success) return { ok: false, error: InvalidMessageError.fromZod(subject, direction, r.error) };
  return { ok: true, value: r.data };
}
