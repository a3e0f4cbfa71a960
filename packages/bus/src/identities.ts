// Who may do what on the bus: one nkey user per host agent, one for the scheduler, an optional
// read-only one for tools, each allowed exactly its job's subjects of its own cluster. Several
// clusters may share one nats-server: their hosts and schedulers also read each other's host reports
// (a move from one cluster to another needs the destination's facts), nothing else. The nats-server
// enforces it; this file only turns the protocol's subjects into permission blocks and config text.
import { ClusterName, HostId, streams, subjects } from "@drover/protocol";
import { kvStream, kvSubject } from "./jetstream.js";
import { leaseBucket, journalBucket } from "./lease-logic.js";

/**
 * One nkey user. `cluster` absent means the first cluster of its credentials directory (or of the
 * authorization it is written into); host ids are unique across every cluster there.
 */
export type Identity =
  { kind: "host"; host: string; cluster?: string } | { kind: "scheduler"; cluster?: string } | { kind: "tools"; cluster?: string };

/**
 * Largest message the server accepts: NATS's own default, 1 MiB. A host report at the protocol's
 * bound of 1,000 VMs is ~440 KB (50 VMs ~22 KB); the scheduler's `reports.maxBytes` defaults to this.
 */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export interface Permissions {
  /** Subjects it may publish to; empty = none. */
  publish: string[];
  /** Subjects it may subscribe to; empty = none. */
  subscribe: string[];
  /** May answer the requests it receives (one reply to each request's reply subject). */
  allowResponses: boolean;
}

/**
 * File-name-safe name of an identity: host-<id>; scheduler and tools for the first cluster (the names
 * a directory of one cluster always had), scheduler-<cluster> and tools-<cluster> for another.
 */
export function identityName(id: Identity, firstCluster?: string): string {
  if (id.kind === "host") return `host-${id.host}`;
  return id.cluster === undefined || id.cluster === firstCluster ? id.kind : `${id.kind}-${id.cluster}`;
}

/**
 * The inverse of identityName; undefined for a name that is none. A host's cluster is not in its
 * name (the credentials manifest records it), and plain scheduler and tools are the first cluster's:
 * both come back without `cluster`.
 */
export function parseIdentityName(name: string): Identity | undefined {
  if (name === "scheduler" || name === "tools") return { kind: name };
  const m = /^(host|scheduler|tools)-(.+)$/.exec(name);
  if (!m?.[1] || !m[2]) return undefined;
  if (m[1] === "host") return HostId.safeParse(m[2]).success ? { kind: "host", host: m[2] } : undefined;
  return ClusterName.safeParse(m[2]).success ? { kind: m[1] as "scheduler" | "tools", cluster: m[2] } : undefined;
}

/**
 * The cluster's own leader lease (lease.ts) and journal: the JetStream API of those two buckets'
 * streams only (create, info, get, purge), and writes to the cluster's keys. Replies come back on
 * the inbox the scheduler already reads.
 */
function controlStatePermissions(cluster: string): string[] {
  const api = (bucket: string) => [`$JS.API.STREAM.*.${kvStream(bucket)}`, `$JS.API.DIRECT.GET.${kvStream(bucket)}.>`];
  const [lease, journal] = [leaseBucket(cluster), journalBucket(cluster)];
  return [
    "$JS.API.INFO",
    ...api(lease),
    kvSubject(lease, cluster),
    ...api(journal),
    // A takeover reads the journal from its stream's leader (`TypedKv.readFromLeader`).
    `$JS.API.STREAM.MSG.GET.${kvStream(journal)}`,
    kvSubject(journal, `${cluster}.>`),
  ];
}

/**
 * The stream of migration results (agents publish into it, see `hostInbox` for their acks): the
 * scheduler creates and updates it, keeps one durable pull consumer on it, pulls and acks. Nothing
 * else of JetStream.
 */
function resultStreamPermissions(cluster: string): string[] {
  const stream = streams.migrationResults(cluster);
  return [
    `$JS.API.STREAM.*.${stream}`,
    // CREATE/INFO/DELETE of a consumer, and the pull for its next messages.
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/**
 * The inbox prefix `id`'s connection must use (Bus.connect's `inboxPrefix`): the only replies its
 * permissions let it read. Undefined for tools, which make no requests.
 */
export function inboxPrefixFor(id: Identity, firstCluster: string): string | undefined {
  const cluster = id.cluster ?? firstCluster;
  if (id.kind === "host") return subjects.hostInbox(cluster, id.host);
  if (id.kind === "scheduler") return subjects.schedulerInbox(cluster);
  return undefined;
}

/**
 * What `id` may do: its own cluster's job (`id.cluster`, else `firstCluster`). `peerClusters`, the
 * other clusters on the same server (the identity's own is skipped if listed), add only their host
 * reports, and only for hosts and schedulers: a host checks a destination in another cluster, a
 * scheduler plans with its facts. Tools stay within their cluster.
 */
export function permissionsFor(firstCluster: string, id: Identity, peerClusters: string[] = []): Permissions {
  const cluster = id.cluster ?? firstCluster;
  const peerReports = peerClusters.filter((c) => c !== cluster).map((c) => subjects.allHostReports(c));
  const readAll = [
    subjects.allHostReports(cluster),
    subjects.allHostEvents(cluster),
    subjects.allMigrationProgress(cluster),
    subjects.allMigrationResults(cluster),
  ];
  switch (id.kind) {
    case "host":
      return {
        // Progress and results only of the migrations it runs (as their source).
        publish: [
          subjects.hostReport(cluster, id.host),
          subjects.hostEvent(cluster, id.host),
          subjects.migrationProgress(cluster, id.host, "*"),
          subjects.migrationResult(cluster, id.host, "*"),
        ],
        // Its own commands, peers' reports (preflight reads the destination's facts), and the replies
        // to its own requests (the stream's ack of a result) under its own inbox prefix.
        subscribe: [
          subjects.hostCommand(cluster, id.host),
          subjects.allHostReports(cluster),
          ...peerReports,
          `${inboxPrefixFor(id, firstCluster)}.>`,
        ],
        allowResponses: true,
      };
    case "scheduler":
      return {
        publish: [subjects.hostCommand(cluster, "*"), ...controlStatePermissions(cluster), ...resultStreamPermissions(cluster)],
        subscribe: [...readAll, ...peerReports, `${inboxPrefixFor(id, firstCluster)}.>`],
        allowResponses: false,
      };
    case "tools":
      return { publish: [], subscribe: readAll, allowResponses: false };
  }
}

const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;
// An empty allow list means "no restriction" to nats-server: nothing allowed is a deny of everything.
const rule = (xs: string[]) => (xs.length ? `{ allow: ${list(xs)} }` : `{ deny: [">"] }`);

/** nats-server `permissions` block of one user. */
export function permissionsBlock(p: Permissions): string {
  return `{ publish: ${rule(p.publish)}, subscribe: ${rule(p.subscribe)}${p.allowResponses ? ", allow_responses: true" : ""} }`;
}

export interface AuthorizedUser {
  identity: Identity;
  /** The user's public nkey ("U..."). */
  nkey: string;
}

/**
 * The nats-server `authorization` block: one nkey user per identity, each with its permissions. The
 * clusters are those of the users (`firstCluster` for a user without one); each is the others' peer.
 */
export function authorizationConfig(firstCluster: string, users: AuthorizedUser[]): string {
  const clusters = [...new Set([firstCluster, ...users.map((u) => u.identity.cluster ?? firstCluster)])];
  const lines = users.map((u) => {
    const name = identityName(u.identity, firstCluster);
    if (!/^U[A-Z2-7]{55}$/.test(u.nkey)) throw new Error(`${name}: ${JSON.stringify(u.nkey)} is not a user public nkey`);
    const cluster = u.identity.cluster ?? firstCluster;
    return `    # ${name} (cluster ${cluster})\n    { nkey: ${u.nkey}, permissions: ${permissionsBlock(permissionsFor(firstCluster, u.identity, clusters))} }`;
  });
  return `authorization {\n  users = [\n${lines.join("\n")}\n  ]\n}\n`;
}

export interface ServerTls {
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by this CA (mutual TLS). */
  caFile: string;
}

/** A nats-server config: payload limit, mutual TLS, and the authorization block included from its file. */
export function serverConfig(o: { authorizationFile: string; maxPayload: number; tls?: ServerTls }): string {
  const tls = o.tls
    ? `tls {\n  cert_file: ${JSON.stringify(o.tls.certFile)}\n  key_file: ${JSON.stringify(o.tls.keyFile)}\n  ca_file: ${JSON.stringify(o.tls.caFile)}\n  verify: true\n  timeout: 5\n}\n`
    : "";
  return `max_payload: ${o.maxPayload}\n${tls}include ${JSON.stringify(o.authorizationFile)}\n`;
}
