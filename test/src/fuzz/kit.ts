// What the fuzz suites share: the run count, the tally each entry point keeps (printed as one summary
// line per entry point), a watch for unhandled rejections, and the mutations of a valid JSON value
// (a field deleted, the wrong type, a huge number, a NaN-ish string, deep nesting, a `__proto__` or
// `constructor` key, truncated bytes, invalid UTF-8) together with the field a rejection must name.
import fc from "fast-check";

/** Inputs per entry point (issue 10: at least 10,000). */
export const RUNS = 10_000;

/** A seed from FUZZ_SEED replays a run; otherwise fast-check picks one (and prints it on failure). */
export const fcParams = (numRuns = RUNS): fc.Parameters<unknown> => ({
  numRuns,
  ...(process.env["FUZZ_SEED"] ? { seed: Number(process.env["FUZZ_SEED"]) } : {}),
});

export interface Tally {
  entry: string;
  tried: number;
  rejected: number;
  accepted: number;
  /** An exception other than the entry point's documented error, a 5xx, or a hang. */
  crashes: number;
  /** Rejections of a mutated valid input that do not name the mutated field. */
  unnamed: number;
  /** The first few crashes and unnamed rejections, to reproduce them. */
  examples: string[];
}

export function tally(entry: string): Tally {
  return { entry, tried: 0, rejected: 0, accepted: 0, crashes: 0, unnamed: 0, examples: [] };
}

export function note(t: Tally, what: "crash" | "unnamed", detail: string): void {
  if (what === "crash") t.crashes++;
  else t.unnamed++;
  if (t.examples.length < 5) t.examples.push(`${what}: ${detail.slice(0, 600)}`);
}

/** One line per entry point, for the closing note. */
export function summaryLine(t: Tally): string {
  return `fuzz ${t.entry.padEnd(36)} tried ${String(t.tried).padStart(6)}  rejected ${String(t.rejected).padStart(6)}  accepted ${String(t.accepted).padStart(6)}  crashes ${t.crashes}  unnamed ${t.unnamed}`;
}

export function printSummary(tallies: Tally[]): void {
  process.stdout.write(`${tallies.map(summaryLine).join("\n")}\n`);
}

/** Collects unhandled rejections while the suite runs (vitest would report them, but only after the file). */
export function watchRejections(): { seen: unknown[]; stop(): void } {
  const seen: unknown[] = [];
  const on = (reason: unknown) => void seen.push(reason);
  process.on("unhandledRejection", on);
  return { seen, stop: () => void process.off("unhandledRejection", on) };
}

/** True when something set a key on Object.prototype (a `__proto__` that got through). */
export function prototypePolluted(): boolean {
  return Object.getOwnPropertyNames(Object.prototype).some((k) => k.startsWith("fuzzPolluted"));
}

export type Path = (string | number)[];

/** A valid value with one thing broken, as bytes, and the field a rejection of it must name. */
export interface Mutant {
  kind: string;
  bytes: Uint8Array;
  text: string;
  /** Dotted path of what was broken, "(json)" when the bytes are no JSON; null when unknown. */
  field: string | null;
}

const encoder = new TextEncoder();
const PLACEHOLDER = "\u0000fuzz-raw\u0000";

/** Every path into `v` (objects and arrays included), the root excepted. */
export function pathsOf(v: unknown, at: Path = []): Path[] {
  if (typeof v !== "object" || v === null) return [];
  const out: Path[] = [];
  const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, child] of entries) out.push([...at, k], ...pathsOf(child, [...at, k]));
  return out;
}

function getAt(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], v);
}

/** A deep copy of `v` with `p` set to `value`, or deleted when `value` is `DELETE`. */
const DELETE = Symbol("delete");
function setAt(v: unknown, p: Path, value: unknown): unknown {
  const copy = structuredClone(v);
  const parent = getAt(copy, p.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const k = p[p.length - 1]!;
  if (value !== DELETE) (parent as Record<string | number, unknown>)[k] = value;
  else if (Array.isArray(parent)) parent.splice(k as number, 1);
  else delete (parent as Record<string, unknown>)[k];
  return copy;
}

/** JSON text of `v` with `p` replaced by raw JSON text (numbers JSON.stringify cannot write, deep nesting). */
function withRaw(v: unknown, p: Path, raw: string): string {
  return JSON.stringify(setAt(v, p, PLACEHOLDER)).replace(JSON.stringify(PLACEHOLDER), raw);
}

const dotted = (p: Path) => (p.length ? p.join(".") : "(root)");
const typeOf = (x: unknown) => (x === null ? "null" : Array.isArray(x) ? "array" : typeof x);

const anyJson = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
);
const hugeNumbers = ["1e308", "-1e308", "1e400", "-1e400", "9007199254740993", "123456789012345678901234567890", "-0", "5e-324"];
const nanStrings = ["NaN", "Infinity", "-Infinity", "1e999", "0x1F", "", " 7", "null", "undefined", "\u0000", "٣"];

function mutant(kind: string, text: string, field: string | null): Mutant {
  return { kind, text, bytes: encoder.encode(text), field };
}

/**
 * Mutations of `base` (a valid message, config or body). `paths` limits where (default: everywhere).
 * The field named is the path broken; a rejection must name it (see namesField).
 */
export function mutationsOf(base: unknown, paths: Path[] = pathsOf(base), maxDepth = 3000): fc.Arbitrary<Mutant> {
  const valid = JSON.stringify(base);
  const at = fc.constantFrom(...paths);
  const objects = [[], ...paths.filter((p) => typeOf(getAt(base, p)) === "object")] as Path[];
  return fc.oneof(
    at.map((p) => mutant("delete", JSON.stringify(setAt(base, p, DELETE)), dotted(p))),
    fc
      .tuple(at, anyJson)
      .filter(([p, x]) => typeOf(x) !== typeOf(getAt(base, p)))
      .map(([p, x]) => mutant("wrong-type", JSON.stringify(setAt(base, p, x)), dotted(p))),
    fc.tuple(at, fc.constantFrom(...hugeNumbers)).map(([p, n]) => mutant("huge-number", withRaw(base, p, n), dotted(p))),
    fc.tuple(at, fc.constantFrom(...nanStrings)).map(([p, s]) => mutant("nan-string", JSON.stringify(setAt(base, p, s)), dotted(p))),
    fc
      .tuple(at, fc.integer({ min: Math.min(200, maxDepth), max: maxDepth }), fc.boolean())
      .map(([p, depth, arr]) =>
        mutant(
          "deep-nesting",
          withRaw(base, p, arr ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth)),
          dotted(p),
        ),
      ),
    fc
      .tuple(
        at,
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }),
        fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 3000 }) }, { weight: 1, arbitrary: fc.constant(70_000) }),
      )
      .map(([p, s, n]) =>
        mutant("long-string", JSON.stringify(setAt(base, p, s.repeat(Math.ceil(n / s.length) || 0).slice(0, n))), dotted(p)),
      ),
    fc.tuple(fc.constantFrom(...objects), fc.constantFrom("__proto__", "constructor")).map(([p, key]) => {
      const o = structuredClone(getAt(base, p)) as Record<string, unknown>;
      const value = key === "__proto__" ? { fuzzPolluted: true } : { prototype: { fuzzPolluted: true } };
      Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
      const text = p.length ? withRaw(base, p, JSON.stringify(o)) : JSON.stringify(o);
      return mutant("proto-key", text, dotted([...p, key]));
    }),
    fc.integer({ min: 0, max: valid.length - 1 }).map((n) => mutant("truncated", valid.slice(0, n), "(json)")),
    fc
      .tuple(
        fc.integer({ min: 0, max: valid.length }),
        fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]),
      )
      .map(([i, bad]) => {
        const b = encoder.encode(valid);
        const bytes = new Uint8Array([...b.subarray(0, i), ...bad, ...b.subarray(i)]);
        return { kind: "invalid-utf8", bytes, text: Buffer.from(bytes).toString("latin1"), field: "(json)" };
      }),
  );
}

/** Anything at all: arbitrary JSON (no field to name) and arbitrary bytes. */
export const garbage: fc.Arbitrary<Mutant> = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }).map((v) => mutant("arbitrary-json", JSON.stringify(v) ?? "null", null)),
  fc
    .uint8Array({ maxLength: 300 })
    .map((bytes) => ({ kind: "arbitrary-bytes", bytes, text: Buffer.from(bytes).toString("latin1"), field: null })),
);

/** Mostly mutations of the valid inputs, some pure garbage, a few valid ones. */
export function inputsFrom(bases: unknown[], opts: { paths?: (base: unknown) => Path[]; maxDepth?: number } = {}): fc.Arbitrary<Mutant> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.oneof(...bases.map((b) => mutationsOf(b, opts.paths?.(b), opts.maxDepth))) },
    { weight: 2, arbitrary: garbage },
    { weight: 1, arbitrary: fc.constantFrom(...bases).map((b) => mutant("valid", JSON.stringify(b), null)) },
  );
}

/**
 * Does a rejection name `field`? Yes when an issue is at it, under it, or at an ancestor that says
 * the key (zod names an unknown key at its parent, "Unrecognized key: ...").
 */
export function namesField(issues: { field: string; message: string }[], field: string, prefix = ""): boolean {
  const want = prefix ? (field === "(root)" ? prefix : `${prefix}.${field}`) : field;
  const key = want.split(".").at(-1)!;
  const parent = (f: string) => f.split(".").slice(0, -1).join(".");
  return issues.some(
    (i) =>
      i.field === want ||
      i.field.startsWith(`${want}.`) ||
      (want.startsWith(`${i.field}.`) && i.field !== prefix && i.field !== "(root)") ||
      // A cross-field rule names a sibling ("peerPortMin: must be <= peerPortMax"), an unknown key its parent.
      ((want.startsWith(`${i.field}.`) || i.field === "(root)" || i.field === prefix || parent(i.field) === parent(want)) &&
        i.message.includes(key)),
  );
}
