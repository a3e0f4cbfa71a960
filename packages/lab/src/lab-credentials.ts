// The lab's bus is secure like a production one: each agent, the scheduler and test tools have
// their own nkey user and client certificate (packages/bus writeCredentials), and the lab's
// nats-server runs with mutual TLS and the permissions that go with each identity.
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  busConnectionOptions,
  connectionFilesIn,
  identityName,
  writeCredentials,
  type Credentials,
  type NatsConnectionFiles,
} from "@drover/bus";

/** "scheduler" (may command every agent), "tools" (read-only), or a host name (that agent's identity). */
export type LabIdentity = string;

export function labCredentialsDir(stateDir: string): string {
  return join(resolve(stateDir), "credentials");
}

const nameOf = (who: LabIdentity) =>
  who === "scheduler" || who === "tools" ? identityName({ kind: who }) : identityName({ kind: "host", host: who });

/**
 * The `nats` section of an app's config for one lab identity: paths only, known before the lab
 * starts (Lab.start() fills the directory), so configs can be written first.
 */
export function labNatsConnection(stateDir: string, natsUrl: string, who: LabIdentity): NatsConnectionFiles {
  return connectionFilesIn(labCredentialsDir(stateDir), nameOf(who), [natsUrl], true);
}

/** Bus.connect options (servers, seed file, TLS) of a lab identity, for tests and tools. */
export function labBusOptions(stateDir: string, natsUrl: string, who: LabIdentity) {
  return busConnectionOptions(labNatsConnection(stateDir, natsUrl, who));
}

/** Fresh credentials for a lab start: a new CA, one user per host, scheduler and tools. */
export async function issueLabCredentials(stateDir: string, cluster: string, hosts: string[], natsUrl: string): Promise<Credentials> {
  const dir = labCredentialsDir(stateDir);
  await rm(dir, { recursive: true, force: true });
  return writeCredentials({ dir, cluster, hosts, tools: true, servers: [natsUrl] });
}
