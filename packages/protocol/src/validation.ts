import type { z } from "zod";
import { DroverError } from "./errors.js";

export interface FieldIssue {
  /** Dotted path of the field, e.g. `vms.3.memoryMiB`; `(root)` for the message itself. */
  field: string;
  message: string;
}

/** A message, config or API input failed its schema. `message` names every bad field. */
export class ValidationError extends DroverError {
  override readonly name = "ValidationError";
  readonly code = "invalid-message";
  constructor(
    readonly what: string,
    readonly issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(`invalid ${what}: ${issues.map((i) => `${i.field}: ${i.message}`).join("; ")}`, options);
  }
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join(".") : "(root)",
    message: i.message,
  }));
}

/** Validates `data` against `schema`; throws a ValidationError naming the failing fields. */
export function parseMessage<S extends z.ZodType>(schema: S, data: unknown, what = "message"): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw new ValidationError(what, issuesOf(r.error), { cause: r.error });
  return r.data;
}

/** Decodes JSON text (or bytes) and validates it; bad JSON is a ValidationError on `(root)`. */
export function decodeMessage<S extends z.ZodType>(schema: S, text: string | Uint8Array, what = "message"): z.output<S> {
  let data: unknown;
  try {
    data = JSON.parse(typeof text === "string" ? text : new TextDecoder().decode(text));
  } catch (e) {
    throw new ValidationError(what, [{ field: "(root)", message: `not JSON: ${(e as Error).message}` }], { cause: e });
  }
  return parseMessage(schema, data, what);
}
