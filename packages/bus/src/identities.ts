// Who may do what on the bus: one nkey user per host agent, one for the scheduler, an optional
// read-only one for tools, each allowed exactly its job's subjects. The nats-server enforces it;
// this file only turns the protocol's subjects into permission blocks and config text.
import { HostId, streams, subjects } from "@drover/protocol";
import { LEASE_BUCKET, JOURNAL_BUCKET } from "./lease-logic.js";

export type Identity = { kind: "host"; host: string } | { kind: "scheduler" } | { kind: "tools" };

/**
 * Largest message the server accepts: NATS's own default, 1 MiB. A host report at the protocol's
 * bound of 1,000 VMs is ~440 KB (50 VMs ~22 KB); the scheduler's `reports.maxBytes` defaults to this.
 */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The scheduler's requests wait for replies on the client library's default inbox. */
const INBOX = "_INBOX.>";

export interface Permissions {
  /** Subjects it may publish to; empty = none. */
  publish: string[];
  /** Subjects it may subscribe to; empty = none. */
  subscribe: string[];
  /** May answer the requests it receives (one reply to each request's reply subject). */
  allowResponses: boolean;
}

/** File-name-safe name of an identity: host-<id>, scheduler, tools. */
export function identityName(id: Identity): string {
  return id.kind === "host" ? `host-${id.host}` : id.kind;
}

/** The inverse of identityName; undefined for a name that is none. */
export function parseIdentityName(name: string): Identity | undefined {
  if (name === "scheduler" || name === "tools") return { kind: name };
  const m = /^host-(.+)$/.exec(name);
  return m?.[1] && HostId.safeParse(m[1]).success ? { kind: "host", host: m[1] } : undefined;
}

/**
 * The leader lease (lease.ts) and the journal of moves in flight: the JetStream API of those buckets'
 * streams only (create, info, get), and writes to the cluster's own keys. Replies come back on the
 * inbox the scheduler already reads.
 */
function controlStatePermissions(cluster: string): string[] {
  const api = (bucket: string) => [`$JS.API.STREAM.*.KV_${bucket}`, `$JS.API.DIRECT.GET.KV_${bucket}.>`];
  return [
    "$JS.API.INFO",
    ...api(LEASE_BUCKET),
    `$KV.${LEASE_BUCKET}.${cluster}`,
    ...api(JOURNAL_BUCKET),
    // Listing keys is a consumer on the bucket's stream.
    `$JS.API.CONSUMER.*.KV_${JOURNAL_BUCKET}`,
    `$JS.API.CONSUMER.*.KV_${JOURNAL_BUCKET}.>`,
    `$KV.${JOURNAL_BUCKET}.${cluster}.>`,
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

export function permissionsFor(cluster: string, id: Identity): Permissions {
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
        subscribe: [subjects.hostCommand(cluster, id.host), subjects.allHostReports(cluster), `${subjects.hostInbox(cluster, id.host)}.>`],
        allowResponses: true,
      };
    case "scheduler":
      return {
        publish: [subjects.hostCommand(cluster, "*"), ...controlStatePermissions(cluster), ...resultStreamPermissions(cluster)],
        subscribe: [...readAll, INBOX],
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

/** The nats-server `authorization` block: one nkey user per identity, each with its permissions. */
export function authorizationConfig(cluster: string, users: AuthorizedUser[]): string {
  const lines = users.map((u) => {
    if (!/^U[A-Z2-7]{55}$/.test(u.nkey))
      throw new Error(`${identityName(u.identity)}: ${JSON.stringify(u.nkey)} is not a user public nkey`);
    return `    # ${identityName(u.identity)}\n    { nkey: ${u.nkey}, permissions: ${permissionsBlock(permissionsFor(cluster, u.identity))} }`;
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
