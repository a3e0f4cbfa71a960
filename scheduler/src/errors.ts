// Typed errors; the API maps `code` to a status and `field` to the issue it names.
import { DroverError } from "@drover/protocol";

/** A request the scheduler refuses (unknown VM or host, cool-down, busy VM, ...). */
export class DispatchError extends DroverError {
  override readonly name = "DispatchError";
  constructor(
    readonly code: string,
    message: string,
    /** The request field at fault, when there is one. */
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Something asked of the scheduler is not found. */
export class NotFoundError extends DroverError {
  override readonly name = "NotFoundError";
  readonly code = "not-found";
  constructor(
    message: string,
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Refused by a safety invariant or by the current state (409). */
export class RefusedError extends DroverError {
  override readonly name = "RefusedError";
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
