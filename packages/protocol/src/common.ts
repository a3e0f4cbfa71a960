import { z } from "zod";

/** Bumped when a message changes incompatibly; it is also the `v1` in every subject. */
export const PROTOCOL_VERSION = 1 as const;

// Names that end up as NATS subject tokens: no dots, wildcards or whitespace.
const token = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export const ClusterName = z.string().regex(token, "must be 1-128 of [A-Za-z0-9_-], starting with a letter or digit");
export const HostId = z.string().regex(token, "must be 1-128 of [A-Za-z0-9_-], starting with a letter or digit");
/** Command ids and migration ids travel in subjects too. */
export const Id = z.string().regex(token, "must be 1-128 of [A-Za-z0-9_-], starting with a letter or digit");
export const Uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "must be a UUID")
  .transform((s) => s.toLowerCase());
export const VmUuid = Uuid;
/** A VM as named in a command: its UUID or its libvirt name. */
export const VmRef = z.string().min(1, "must not be empty").max(256);
/** The largest time a JavaScript Date holds: a later one cannot even be printed (toISOString throws). */
export const MAX_EPOCH_MS = 8.64e15;
/** Milliseconds since the Unix epoch. */
export const EpochMs = z.number().int().nonnegative().max(MAX_EPOCH_MS, "is past the last date JavaScript can hold");
export const NonNeg = z.number().finite().nonnegative();
export const Fraction = z.number().finite().min(0).max(1);

export const ErrorInfo = z.object({
  code: z.string().min(1),
  message: z.string(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

/** pino-compatible structured logger; library code receives one instead of using console. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: object): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
