import { closest, distance } from "fastest-levenshtein";
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

/**
 * Each issue at the field it is about: an unknown key at the key itself (zod names it at its
 * parent), with the closest key the schema accepts there when `schema` is given and one is near.
 */
export function issuesOf(error: z.ZodError, schema?: z.ZodType): FieldIssue[] {
  const at = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join(".") : "(root)");
  return error.issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => ({ field: at([...i.path, k]), message: `unknown key${didYouMean(k, schema ? keysAt(schema, i.path) : [])}` }))
      : [{ field: at(i.path), message: i.message }],
  );
}

/**
 * ` (did you mean "x"?)` when a known key is a likely typo of `key`: the same but for case or the
 * order of its letters, or a few edits away without every letter of either replaced.
 */
function didYouMean(key: string, known: readonly string[]): string {
  if (known.length === 0) return "";
  const letters = (k: string) => [...k.toLowerCase()].sort().join("");
  const near = known.find((k) => letters(k) === letters(key)) ?? closest(key, [...known]);
  const edits = distance(key, near);
  const likely =
    letters(near) === letters(key) ||
    (edits <= (key.length < 4 ? 1 : Math.max(2, Math.floor(key.length / 3))) && edits < Math.min(key.length, near.length));
  return likely ? ` (did you mean "${near}"?)` : "";
}

/** A zod 4 schema's definition, as far as finding the keys an object accepts needs it. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  getter?: () => z.ZodType;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  items?: z.ZodType[];
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schemas `s` stands for once its wrappers are looked through (a union: each option). */
function unwrapped(s: z.ZodType): z.ZodType[] {
  const d = defOf(s);
  if (d.innerType) return unwrapped(d.innerType);
  if (d.type === "pipe" && d.in) return unwrapped(d.in);
  if (d.type === "lazy" && d.getter) return unwrapped(d.getter());
  if (d.type === "union" && d.options) return d.options.flatMap(unwrapped);
  if (d.type === "intersection" && d.left && d.right) return [...unwrapped(d.left), ...unwrapped(d.right)];
  return [s];
}

/** The keys the object schemas at `path` under `schema` accept. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let here = unwrapped(schema);
  for (const seg of path) {
    here = here.flatMap((s) => {
      const d = defOf(s);
      const next =
        d.type === "object"
          ? d.shape?.[String(seg)]
          : d.type === "array"
            ? d.element
            : d.type === "record"
              ? d.valueType
              : d.type === "tuple" && typeof seg === "number"
                ? d.items?.[seg]
                : undefined;
      return next ? unwrapped(next) : [];
    });
  }
  return [...new Set(here.flatMap((s) => Object.keys(defOf(s).type === "object" ? (defOf(s).shape ?? {}) : {})))];
}

/** Validates `data` against `schema`; throws a ValidationError naming the failing fields. */
export function parseMessage<S extends z.ZodType>(schema: S, data: unknown, what = "message"): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw new ValidationError(what, issuesOf(r.error, schema), { cause: r.error });
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
