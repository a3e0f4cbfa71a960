// A write the disk refuses (full, read-only, an I/O error) is not a bug of the caller: it becomes a
// StoreError "write-failed" naming the file and SQLite's code, and the owner of the store is told
// (it stops acting until it can record again). better-sqlite3 rolls the statement or transaction back.
import { StoreError, StoreErrorCodes } from "./errors.js";

/** SQLite's result codes (extended ones start with these) that mean the storage refused the write. */
const STORAGE_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|NOLFS)/;

export type WriteFailureListener = (err: StoreError) => void;

/** The StoreError for a storage failure, or undefined when `e` is anything else. */
export function asWriteFailure(e: unknown, path: string): StoreError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (e instanceof StoreError || typeof code !== "string" || !STORAGE_CODES.test(code)) return undefined;
  const what = code.startsWith("SQLITE_FULL") ? "the disk is full" : `the disk refused the write (${code})`;
  return new StoreError(StoreErrorCodes.WriteFailed, `store ${path}: ${what}: ${(e as Error).message}`, { cause: e });
}

export class WriteFailures {
  constructor(
    private readonly path: string,
    private readonly listener: WriteFailureListener | undefined,
  ) {}

  /** Runs fn; a storage failure comes out as StoreError "write-failed", after the listener heard of it. */
  run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const failure = asWriteFailure(e, this.path);
      if (!failure) throw e;
      try {
        this.listener?.(failure);
      } catch {
        // The listener's own trouble must not hide the write failure from the caller.
      }
      throw failure;
    }
  }

  /** The repository with every method run through run(). */
  guard<T extends object>(repo: T): T {
    const wrapped = new Map<PropertyKey, unknown>();
    return new Proxy(repo, {
      get: (target, prop) => {
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        let w = wrapped.get(prop);
        if (!w) {
          // Called on the repository itself: its private fields are not reachable through a proxy.
          w = (...args: unknown[]) => this.run(() => (v as (...a: unknown[]) => unknown).apply(target, args));
          wrapped.set(prop, w);
        }
        return w;
      },
    });
  }
}
