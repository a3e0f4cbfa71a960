import { DroverError, issuesOf, ValidationError, type FieldIssue } from "@drover/protocol";
import type { z } from "zod";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

export const BusErrorCode = {
  InvalidMessage: "invalid-message",
  Timeout: "timeout",
  NoResponders: "no-responders",
  Remote: "remote-error",
  RequestFailed: "request-failed",
  PublishFailed: "publish-failed",
  Connect: "connect-failed",
  Closed: "closed",
  InvalidOptions: "invalid-options",
  JetStream: "jetstream",
  PermissionDenied: "permission-denied",
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

/** Base of every error the bus throws; `code` is stable, `message` is for humans. */
export class BusError extends DroverError {
  override readonly name: string = "BusError";
  constructor(
    readonly code: BusErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Where an invalid message was caught: before sending, or on receipt of each kind. */
export type Direction = "publish" | "receive" | "request" | "reply" | "kv";

export type { FieldIssue };

/**
 * A message that is not valid JSON or fails its schema. It is protocol's ValidationError (code
 * invalid-message, `issues` naming every failing field) plus where it was seen on the bus.
 */
export class InvalidMessageError extends ValidationError {
  // `name` stays "ValidationError" (typed as such by protocol): callers match on class or `code`.
  constructor(
    readonly subject: string,
    readonly direction: Direction,
    issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(`message on ${subject} (${direction})`, issues, options);
  }

  /** The first failing field, the one a human fixes first. */
  get field(): string {
    return this.issues[0]?.field ?? "(root)";
  }

  static fromZod(subject: string, direction: Direction, err: z.ZodError): InvalidMessageError {
    return new InvalidMessageError(subject, direction, issuesOf(err), { cause: err });
  }
}

export class RequestTimeoutError extends BusError {
  override readonly name = "RequestTimeoutError";
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(BusErrorCode.Timeout, `request on ${subject} got no reply within ${timeoutMs} ms`, options);
  }
}

export class NoRespondersError extends BusError {
  override readonly name = "NoRespondersError";
  constructor(
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(BusErrorCode.NoResponders, `no service answers on ${subject}`, options);
  }
}

/** The serving side answered with an error (invalid request, handler failure). */
export class RemoteError extends BusError {
  override readonly name = "RemoteError";
  constructor(
    readonly subject: string,
    /** The error code sent by the server side, e.g. invalid-request or handler-failed. */
    readonly remoteCode: string,
    readonly remoteMessage: string,
    /** Set when the remote side rejected a field of the request. */
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(BusErrorCode.Remote, `request on ${subject} failed remotely (${remoteCode}): ${remoteMessage}`, options);
  }
}

/** A request failed for another reason than timeout or no responders (e.g. permissions). */
export class RequestFailedError extends BusError {
  override readonly name = "RequestFailedError";
  constructor(
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(BusErrorCode.RequestFailed, `request on ${subject} failed${reason}`, options);
  }
}

export class PublishFailedError extends BusError {
  override readonly name = "PublishFailedError";
  constructor(
    readonly subject: string,
    readonly bytes: number,
    options?: ErrorOptions,
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(BusErrorCode.PublishFailed, `cannot publish ${bytes} bytes on ${subject}${reason}`, options);
  }
}

/** The server refused this identity a subscription (its permissions, e.g. another host's seed). */
export class SubscribeDeniedError extends BusError {
  override readonly name = "SubscribeDeniedError";
  constructor(
    readonly subject: string,
    hint: string,
    options?: ErrorOptions,
  ) {
    super(BusErrorCode.PermissionDenied, `this NATS identity may not subscribe to ${subject}${hint ? `: ${hint}` : ""}`, options);
  }
}

export class BusConnectError extends BusError {
  override readonly name = "BusConnectError";
  constructor(
    readonly servers: string[],
    options?: ErrorOptions,
  ) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(BusErrorCode.Connect, `cannot connect to NATS at ${servers.join(", ")}${reason}`, options);
  }
}

export class BusClosedError extends BusError {
  override readonly name = "BusClosedError";
  constructor(operation: string, options?: ErrorOptions) {
    super(BusErrorCode.Closed, `bus is closed: cannot ${operation}`, options);
  }
}

export class InvalidOptionsError extends BusError {
  override readonly name = "InvalidOptionsError";
  constructor(
    readonly issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(BusErrorCode.InvalidOptions, `invalid bus options: ${describeIssues(issues)}`, options);
  }
}

export class JetStreamOpError extends BusError {
  override readonly name = "JetStreamOpError";
  constructor(message: string, options?: ErrorOptions) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(BusErrorCode.JetStream, `${message}${reason}`, options);
  }

  /** True when a compare-and-set or create-if-absent was refused because the key's revision is not the one expected. */
  get revisionConflict(): boolean {
    const c = this.cause;
    return (
      c instanceof JetStreamApiError &&
      (c.code === JetStreamApiCodes.StreamWrongLastSequence || c.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
    );
  }
}

function describeIssues(issues: FieldIssue[]): string {
  const shown = issues.slice(0, 3).map((i) => `${i.field}: ${i.message}`);
  if (issues.length > 3) shown.push(`(+${issues.length - 3} more)`);
  return shown.join("; ");
}
