import { PermissionViolationError, type Status } from "@nats-io/nats-core";

export const BusStatusType = {
  Disconnect: "disconnect",
  Reconnecting: "reconnecting",
  Reconnect: "reconnect",
  Stale: "stale",
  Error: "error",
  /** The server refused a publish or a subscription this identity is not allowed (its permissions). */
  PermissionDenied: "permission-denied",
  SlowConsumer: "slow-consumer",
  Close: "close",
} as const;
export type BusStatusType = (typeof BusStatusType)[keyof typeof BusStatusType];

/** Connection events worth a health report; the client's noisier ones (pings, gossip) are dropped. */
export interface BusStatus {
  type: BusStatusType;
  server?: string;
  error?: Error;
  subject?: string;
  /** permission-denied: what was refused. */
  operation?: "publish" | "subscription";
}

export type StatusListener = (s: BusStatus) => void;

export function toBusStatus(s: Status): BusStatus | undefined {
  switch (s.type) {
    case "disconnect":
      return { type: BusStatusType.Disconnect, server: s.server };
    case "reconnecting":
      return { type: BusStatusType.Reconnecting };
    case "reconnect":
      return { type: BusStatusType.Reconnect, server: s.server };
    case "staleConnection":
      return { type: BusStatusType.Stale };
    case "error":
      if (s.error instanceof PermissionViolationError) {
        const operation = s.error.operation === "subscription" ? "subscription" : "publish";
        return { type: BusStatusType.PermissionDenied, error: s.error, operation, subject: s.error.subject };
      }
      return { type: BusStatusType.Error, error: s.error };
    case "slowConsumer":
      return { type: BusStatusType.SlowConsumer, subject: s.sub.getSubject() };
    case "close":
      return { type: BusStatusType.Close };
    default:
      return undefined;
  }
}
