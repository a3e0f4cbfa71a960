import { DroverError } from "@drover/protocol";

export const StoreErrorCodes = {
  /** The file was written by a newer Drover; opening it would risk corrupting it. */
  SchemaTooNew: "schema-too-new",
  /** The file could not be opened or migrated. */
  OpenFailed: "open-failed",
  /** A row passed in is malformed; the message names the field. */
  InvalidInput: "invalid-input",
  /** No row with that id. */
  NotFound: "not-found",
  /** A row with that id (or an active one for that host) already exists. */
  Conflict: "conflict",
  /** A status change that would resurrect finished work (e.g. succeeded -> running). */
  InvalidTransition: "invalid-transition",
  /** A stored JSON column does not parse. */
  CorruptRow: "corrupt-row",
  /** The disk refused a write (full, read-only, I/O error): nothing of that call was kept. */
  WriteFailed: "write-failed",
} as const;
export type StoreErrorCode = (typeof StoreErrorCodes)[keyof typeof StoreErrorCodes];

export class StoreError extends DroverError {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
