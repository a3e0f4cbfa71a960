// Light checks at the store's entry points: enough that a bad row fails loudly with the field named,
// instead of being written and breaking a later read. Types already do the rest.
import { StoreError, StoreErrorCodes } from "./errors.js";
import type { Json } from "./types.js";

function invalid(where: string, field: string, want: string, got: unknown): StoreError {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  return new StoreError(StoreErrorCodes.InvalidInput, `${where}: ${field} must be ${want}, got ${shown}`);
}

export function text(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) throw invalid(where, field, "a non-empty string", v);
  return v;
}

export function textOrNull(where: string, field: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return text(where, field, v);
}

/** Strings that may be empty (reasons, summaries). */
export function anyText(where: string, field: string, v: unknown): string {
  if (typeof v !== "string") throw invalid(where, field, "a string", v);
  return v;
}

export function epochMs(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(where, field, "a non-negative integer (ms)", v);
  return v;
}

export function epochMsOrNull(where: string, field: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return epochMs(where, field, v);
}

export function amountOrNull(where: string, field: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw invalid(where, field, "a finite non-negative number or null", v);
  return v;
}

export function amount(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw invalid(where, field, "a finite non-negative number", v);
  return v;
}

export function oneOf<const T extends readonly string[]>(where: string, field: string, allowed: T, v: unknown): T[number] {
  if (typeof v !== "string" || !allowed.includes(v)) throw invalid(where, field, `one of ${allowed.join(", ")}`, v);
  return v;
}

export function bool(where: string, field: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw invalid(where, field, "true or false", v);
  return v;
}

export function stringArray(where: string, field: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw invalid(where, field, "an array of strings", v);
  return v as string[];
}

/** Serialises a JSON column; undefined is stored as null. */
export function toJson(where: string, field: string, v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v === undefined ? null : v);
  } catch (cause) {
    throw new StoreError(StoreErrorCodes.InvalidInput, `${where}: ${field} is not JSON-serialisable`, { cause });
  }
  if (s === undefined) throw invalid(where, field, "JSON-serialisable", v);
  return s;
}

export function fromJson(table: string, key: string, column: string, s: string | null): Json {
  if (s === null) return null;
  try {
    return JSON.parse(s) as Json;
  } catch (cause) {
    throw new StoreError(StoreErrorCodes.CorruptRow, `${table} ${key}: column ${column} holds invalid JSON`, { cause });
  }
}

export function errorRecordOrNull(where: string, field: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(where, field, "an object { code, message } or null", v);
  const e = v as { code?: unknown; message?: unknown };
  if (typeof e.code !== "string" || e.code.length === 0 || typeof e.message !== "string") {
    throw invalid(where, field, "an object { code, message } or null", v);
  }
  return toJson(where, field, v);
}

/** SQLite's constraint error as a typed conflict; anything else passes through. */
export function rethrowConflict(err: unknown, what: string): never {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT")) {
    throw new StoreError(StoreErrorCodes.Conflict, `${what}: ${(err as Error).message}`, { cause: err });
  }
  throw err;
}

export function count(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(where, field, "a non-negative integer", v);
  return v;
}

export function positiveCount(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw invalid(where, field, "an integer of at least 1", v);
  return v;
}
