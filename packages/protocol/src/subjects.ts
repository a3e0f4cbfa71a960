import { PROTOCOL_VERSION } from "./common.js";

const root = (cluster: string) => `drover.v${PROTOCOL_VERSION}.${cluster}`;

/** Every NATS subject Drover uses, in one place. `*` tokens are for subscriptions. */
export const subjects = {
  hostReport: (cluster: string, host: string) => `${root(cluster)}.host.${host}.report`,
  allHostReports: (cluster: string) => `${root(cluster)}.host.*.report`,
  hostCommand: (cluster: string, host: string) => `${root(cluster)}.host.${host}.cmd`,
  hostEvent: (cluster: string, host: string) => `${root(cluster)}.host.${host}.event`,
  allHostEvents: (cluster: string) => `${root(cluster)}.host.*.event`,
  // A migration's progress and result are published by its source host, under that host: the
  // server then lets a host speak only for the moves it runs (`id` "*" for a permission).
  migrationProgress: (cluster: string, host: string, id: string) => `${root(cluster)}.host.${host}.migration.${id}.progress`,
  allMigrationProgress: (cluster: string) => `${root(cluster)}.host.*.migration.*.progress`,
  migrationResult: (cluster: string, host: string, id: string) => `${root(cluster)}.host.${host}.migration.${id}.result`,
  allMigrationResults: (cluster: string) => `${root(cluster)}.host.*.migration.*.result`,
  /**
   * Where an identity's requests (a JetStream publish waits for its ack this way) get their replies:
   * a host's own prefix, so the server lets it read replies meant for it and no one else's.
   */
  hostInbox: (cluster: string, host: string) => `_INBOX.${root(cluster)}.host.${host}`,
  /** A cluster's schedulers' prefix (their JetStream API calls, a command's reply): no other cluster's scheduler reads it. */
  schedulerInbox: (cluster: string) => `_INBOX.${root(cluster)}.scheduler`,
} as const;

/**
 * JetStream streams (names, not subjects). A migration's result settles a move, so it must survive
 * a NATS restart: the agent publishes it into this per-cluster stream (the result subjects above)
 * and the leading scheduler reads it through one durable consumer, acking once it is recorded.
 */
export const streams = {
  migrationResults: (cluster: string) => `drover-results-${cluster}`,
  /** The durable consumer the leading scheduler reads results with. */
  migrationResultsConsumer: "scheduler",
} as const;

/**
 * Host id from a `drover.v<N>.<cluster>.host.<host>.<leaf>` or `...host.<host>.migration.<id>.<leaf>`
 * subject, or undefined. By position: a cluster or host may itself be named "host" or "migration".
 */
export function hostOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  if (parts[0] !== "drover" || parts[3] !== "host") return undefined;
  return parts.length === 6 || (parts.length === 8 && parts[5] === "migration") ? parts[4] : undefined;
}

/**
 * A subject with a migration's id (unbounded) replaced by `*`; host names stay (one per host). What
 * counts by subject keys on this, so a flood of made-up migration ids cannot grow a map or a series.
 */
export function subjectPattern(subject: string): string {
  const p = subject.split(".");
  if (p[0] === "drover" && p.length === 8 && p[5] === "migration") p[6] = "*";
  return p.join(".");
}
