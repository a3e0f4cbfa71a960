import { PROTOCOL_VERSION } from "./common.js";

const root = (cluster: string) => `drover.v${PROTOCOL_VERSION}.${cluster}`;

/** Every NATS subject Drover uses, in one place. `*` tokens are for subscriptions. */
export const subjects = {
  hostReport: (cluster: string, host: string) => `${root(cluster)}.host.${host}.report`,
  allHostReports: (cluster: string) => `${root(cluster)}.host.*.report`,
  hostCommand: (cluster: string, host: string) => `${root(cluster)}.host.${host}.cmd`,
  hostEvent: (cluster: string, host: string) => `${root(cluster)}.host.${host}.event`,
  allHostEvents: (cluster: string) => `${root(cluster)}.host.*.event`,
  migrationProgress: (cluster: string, id: string) => `${root(cluster)}.migration.${id}.progress`,
  allMigrationProgress: (cluster: string) => `${root(cluster)}.migration.*.progress`,
  migrationResult: (cluster: string, id: string) => `${root(cluster)}.migration.${id}.result`,
  allMigrationResults: (cluster: string) => `${root(cluster)}.migration.*.result`,
} as const;

/**
 * Host id from a `drover.v<N>.<cluster>.host.<host>.<leaf>` subject, or undefined. By position: a
 * cluster or host may itself be named "host".
 */
export function hostOfSubject(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length === 6 && parts[0] === "drover" && parts[3] === "host" ? parts[4] : undefined;
}
