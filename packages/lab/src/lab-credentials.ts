// The lab's bus is secure like a production one: each agent, the scheduler and test tools have
// their own nkey user and client certificate (packages/bus writeCredentials), and the lab's
// nats-server runs with mutual TLS and the permissions that go with each identity.
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  busConnectionOptions,
  connectionFilesIn,
  identityName,
  parseIdentityName,
  writeCredentials,
  type Credentials,
  type NatsConnectionFiles,
} from "@drover/bus";
import { NATS_ROUTE_PORT } from "./addresses.js";

/**
 * "scheduler" (may command every agent of the lab's cluster), "tools" (read-only), a host name (that
 * agent's identity), or `scheduler-<cluster>` / `tools-<cluster>` of a peer cluster (LabOptions.peerClusters).
 */
export type LabIdentity = string;

export function labCredentialsDir(stateDir: string): string {
  return join(resolve(stateDir), "credentials");
}

const nameOf = (who: LabIdentity) => {
  const id = parseIdentityName(who);
  return id && id.kind !== "host" ? who : identityName({ kind: "host", host: who });
};

/**
 * The `nats` section of an app's config for one lab identity: paths only, known before the lab
 * starts (Lab.start() fills the directory), so configs can be written first.
 */
export function labNatsConnection(stateDir: string, natsUrl: string | string[], who: LabIdentity): NatsConnectionFiles {
  return connectionFilesIn(labCredentialsDir(stateDir), nameOf(who), typeof natsUrl === "string" ? [natsUrl] : natsUrl, true);
}

/** Bus.connect options (servers, seed file, TLS) of a lab identity, for tests and tools. */
export function labBusOptions(stateDir: string, natsUrl: string | string[], who: LabIdentity) {
  return busConnectionOptions(labNatsConnection(stateDir, natsUrl, who));
}

/**
 * Fresh credentials for a lab start: a new CA, one user per host, scheduler and tools; the server
 * certificate names every node. `hosts` are the lab cluster's; each peer cluster (name -> its hosts)
 * gets its hosts, scheduler and tools in the same directory, after the lab's own cluster. Returns
 * the directory as the last write left it (`clusters` names every one).
 */
export async function issueLabCredentials(
  stateDir: string,
  cluster: string,
  hosts: string[],
  natsUrls: string[],
  peerClusters: Record<string, string[]> = {},
): Promise<Credentials> {
  const dir = labCredentialsDir(stateDir);
  await rm(dir, { recursive: true, force: true });
  let creds = await writeCredentials({ dir, cluster, hosts, tools: true, servers: natsUrls });
  for (const [peer, peerHosts] of Object.entries(peerClusters)) {
    creds = await writeCredentials({ dir, cluster: peer, hosts: peerHosts, tools: true, servers: natsUrls });
  }
  return creds;
}

/** One node of a lab's nats-server cluster. */
export interface LabNatsNode {
  name: string;
  host: string;
}

/**
 * One config file per cluster node beside the credentials' nats-server.conf (which each includes:
 * TLS, users, permissions): its server name and its cluster routes on loopback. Routes carry a
 * password generated here, so only the lab's own nodes can join; it stays in these 0600 files,
 * never on a command line.
 */
export async function writeLabClusterConfigs(stateDir: string, cluster: string, nodes: LabNatsNode[]): Promise<string[]> {
  const dir = labCredentialsDir(stateDir);
  const password = randomBytes(24).toString("base64url");
  const route = (n: LabNatsNode) => `nats-route://route:${password}@${n.host}:${NATS_ROUTE_PORT}`;
  const files: string[] = [];
  for (const n of nodes) {
    const file = join(dir, `nats-${n.name}.conf`);
    const text = [
      `include "nats-server.conf"`,
      `server_name: ${JSON.stringify(n.name)}`,
      `cluster {`,
      `  name: ${JSON.stringify(cluster)}`,
      `  listen: "${n.host}:${NATS_ROUTE_PORT}"`,
      `  authorization { user: route, password: ${JSON.stringify(password)} }`,
      `  routes: [${nodes.map((x) => JSON.stringify(route(x))).join(", ")}]`,
      `}`,
      "",
    ].join("\n");
    await writeFile(file, text, { mode: 0o600 });
    files.push(file);
  }
  return files;
}
