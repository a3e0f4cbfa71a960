// A credentials directory: one nkey seed per identity (0600), optionally a CA with the server's
// and every identity's certificate, the nats-server authorization block and a server config that
// includes it. Re-running adds identities and keeps the keys of the existing ones; revoking a
// host removes its user (and its files): reload nats-server to apply. One directory (one
// nats-server, one CA) may hold several clusters: a run naming a cluster it does not hold adds it.
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { nkeys } from "@nats-io/nats-core";
import { ClusterName, HostId } from "@drover/protocol";
import { ensureCa, issueCert, type CertFiles } from "./certificates.js";
import { InvalidOptionsError } from "./errors.js";
import { authorizationConfig, DEFAULT_MAX_PAYLOAD, identityName, parseIdentityName, serverConfig, type Identity } from "./identities.js";

export interface CredentialsOptions {
  dir: string;
  /** The cluster whose identities this run issues or revokes; added when the directory does not hold it yet. */
  cluster: string;
  /** Hosts of `cluster` to have a user (added to those the directory already has); a host id belongs to one cluster of the directory. */
  hosts?: string[];
  /** Add `cluster`'s read-only tools identity. */
  tools?: boolean;
  /** Hosts of `cluster` whose users are removed. */
  revoke?: string[];
  /** Default DEFAULT_MAX_PAYLOAD, or what the directory recorded. */
  maxPayload?: number;
  /** Server URLs the identities connect to (their hosts go into the server certificate). Default: recorded, else nats://127.0.0.1:4222. */
  servers?: string[];
  /** A CA, the server's certificate and one client certificate per identity (mutual TLS). Default: recorded, else true. */
  tls?: boolean;
  /** More names or IPs for the server certificate (added to the recorded ones). */
  tlsNames?: string[];
}

export interface IssuedIdentity {
  /** `cluster` is always set. */
  identity: Identity;
  name: string;
  publicKey: string;
  seedFile: string;
  /** Client certificate, when the directory has a CA. */
  tls?: CertFiles;
}

export interface Credentials {
  dir: string;
  /** The cluster this run named. */
  cluster: string;
  /** Every cluster of the directory, the first (whose scheduler and tools have the plain names) first. */
  clusters: string[];
  maxPayload: number;
  servers: string[];
  identities: IssuedIdentity[];
  /** The `authorization { users = [...] }` block, for an operator's own nats-server config. */
  authorizationFile: string;
  /** A complete nats-server config (-c): max_payload, tls, and the authorization include. */
  serverConfigFile: string;
  tls?: { caFile: string; server: CertFiles; serverNames: string[] };
  added: string[];
  revoked: string[];
}

/**
 * identities.json: what the directory holds (public keys only; seeds stay in their files). A
 * manifest written before a directory could hold several clusters has neither `clusters` nor an
 * identity's `cluster`: everything in it is `cluster`'s.
 */
interface Manifest {
  version: 1;
  /** The first cluster. */
  cluster: string;
  clusters?: string[];
  maxPayload: number;
  servers: string[];
  tls: { serverNames: string[] } | null;
  identities: Array<{ name: string; publicKey: string; cluster?: string }>;
}

const CA_FILE = "ca.pem";
const DEFAULT_SERVER = "nats://127.0.0.1:4222";
const bad = (field: string, message: string) => new InvalidOptionsError([{ field, message }]);

async function readManifest(dir: string): Promise<Manifest | undefined> {
  const f = join(dir, "identities.json");
  if (!existsSync(f)) return undefined;
  const m = JSON.parse(await readFile(f, "utf8")) as Manifest;
  if (m.version !== 1 || !Array.isArray(m.identities)) throw bad("dir", `${f} is not a Drover credentials manifest`);
  return m;
}

async function writeSecret(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** Creates or updates a credentials directory; see the file comment. Seeds are never returned, printed or logged. */
export async function writeCredentials(o: CredentialsOptions): Promise<Credentials> {
  const dir = resolve(o.dir);
  if (!ClusterName.safeParse(o.cluster).success) throw bad("cluster", `${JSON.stringify(o.cluster)} is not a cluster name`);
  for (const h of [...(o.hosts ?? []), ...(o.revoke ?? [])]) {
    if (!HostId.safeParse(h).success) throw bad("hosts", `${JSON.stringify(h)} is not a host id (1-128 of [A-Za-z0-9_-])`);
  }
  const revoke = new Set(o.revoke ?? []);
  const clash = (o.hosts ?? []).find((h) => revoke.has(h));
  if (clash) throw bad("revoke", `host ${clash} is both added and revoked`);
  if (o.maxPayload !== undefined && (!Number.isInteger(o.maxPayload) || o.maxPayload < 1024 || o.maxPayload > 64 * 1024 * 1024)) {
    throw bad("maxPayload", `${o.maxPayload} is not a byte count between 1024 and 64 MiB`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const prev = await readManifest(dir);
  const cluster = o.cluster;
  const clusters = prev?.clusters ?? (prev ? [prev.cluster] : []);
  if (!clusters.includes(cluster)) clusters.push(cluster);
  const first = clusters[0]!;

  const clusterOf = new Map(prev?.identities.map((i) => [i.name, i.cluster ?? first]) ?? []);
  const hostName = (host: string) => identityName({ kind: "host", host });
  const elsewhere = (o.hosts ?? []).filter((h) => (clusterOf.get(hostName(h)) ?? cluster) !== cluster);
  if (elsewhere.length) {
    throw bad("hosts", elsewhere.map((h) => `host ${h} belongs to cluster ${clusterOf.get(hostName(h))}, not ${cluster}`).join("; "));
  }
  const unknown = [...revoke].filter((h) => clusterOf.get(hostName(h)) !== cluster);
  if (unknown.length) throw bad("revoke", `no user for host(s) ${unknown.join(", ")} of cluster ${cluster} in ${dir}`);
  const wanted: Identity[] = [{ kind: "scheduler", cluster }, ...(o.hosts ?? []).map((host) => ({ kind: "host" as const, host, cluster }))];
  if (o.tools) wanted.push({ kind: "tools", cluster });
  const added: string[] = [];
  for (const id of wanted) {
    const n = identityName(id, first);
    if (!clusterOf.has(n)) added.push(n);
    clusterOf.set(n, cluster);
  }
  const revoked = [...revoke].map(hostName);
  for (const n of revoked) {
    clusterOf.delete(n);
    for (const ext of ["seed", "pem", "key"]) await rm(join(dir, `${n}.${ext}`), { force: true });
  }

  const servers = o.servers ?? prev?.servers ?? [DEFAULT_SERVER];
  const hostOf = (url: string) => {
    try {
      return new URL(url.includes("://") ? url : `nats://${url}`).hostname.replace(/^\[|\]$/g, "");
    } catch {
      throw bad("servers", `${JSON.stringify(url)} is not a server URL`);
    }
  };
  const serverNames = [...new Set([...servers.map(hostOf), ...(prev?.tls?.serverNames ?? []), ...(o.tlsNames ?? [])])];
  const tlsWanted = (o.tls ?? (prev ? prev.tls !== null : true)) ? { serverNames } : undefined;
  const ca = tlsWanted ? await ensureCa(dir, `drover ${first} bus CA`) : undefined;
  let server: CertFiles | undefined;
  if (ca && tlsWanted) {
    const same = prev?.tls && prev.tls.serverNames.join(",") === tlsWanted.serverNames.join(",");
    server = { certFile: join(dir, "server.pem"), keyFile: join(dir, "server.key") };
    if (!same || !existsSync(server.certFile)) {
      server = await issueCert(dir, ca, "server", { commonName: "nats-server", names: tlsWanted.serverNames, usage: "server" });
    }
  }

  const identities: IssuedIdentity[] = [];
  for (const n of [...clusterOf.keys()].sort()) {
    const parsed = parseIdentityName(n);
    if (!parsed) throw bad("dir", `identities.json names ${JSON.stringify(n)}, which is no identity`);
    const identity: Identity = { ...parsed, cluster: clusterOf.get(n)! };
    const files = connectionFilesIn(dir, n, servers, true);
    const seedFile = files.nkeySeedFile;
    let seed: string;
    if (existsSync(seedFile)) seed = (await readFile(seedFile, "utf8")).trim();
    else {
      seed = new TextDecoder().decode(nkeys.createUser().getSeed());
      await writeSecret(seedFile, `${seed}\n`);
    }
    const publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
    let tls: CertFiles | undefined;
    if (ca) {
      tls = { certFile: files.tls!.cert, keyFile: files.tls!.key };
      if (!existsSync(tls.certFile) || !existsSync(tls.keyFile)) tls = await issueCert(dir, ca, n, { commonName: n, usage: "client" });
    }
    identities.push({ identity, name: n, publicKey, seedFile, ...(tls ? { tls } : {}) });
  }

  const maxPayload = o.maxPayload ?? prev?.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const authorizationFile = join(dir, "authorization.conf");
  await writeSecret(
    authorizationFile,
    authorizationConfig(
      first,
      identities.map((i) => ({ identity: i.identity, nkey: i.publicKey })),
    ),
  );
  const serverConfigFile = join(dir, "nats-server.conf");
  await writeSecret(
    serverConfigFile,
    serverConfig({
      authorizationFile: "authorization.conf",
      maxPayload,
      ...(ca && server ? { tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile } } : {}),
    }),
  );
  const manifest: Manifest = {
    version: 1,
    cluster: first,
    clusters,
    maxPayload,
    servers,
    tls: tlsWanted ? { serverNames: tlsWanted.serverNames } : null,
    identities: identities.map((i) => ({ name: i.name, publicKey: i.publicKey, cluster: clusterOf.get(i.name)! })),
  };
  await writeSecret(join(dir, "identities.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  // Certificates are public, but the directory is handed out as a whole: one mode for everything.
  for (const f of await readdir(dir)) await chmod(join(dir, f), 0o600);
  return {
    dir,
    cluster: o.cluster,
    clusters,
    maxPayload,
    servers,
    identities,
    authorizationFile,
    serverConfigFile,
    ...(ca && server && tlsWanted ? { tls: { caFile: ca.certFile, server, serverNames: tlsWanted.serverNames } } : {}),
    added,
    revoked,
  };
}

/** The `nats` section of an app's YAML config for one identity (file paths only, no secret). */
export interface NatsConnectionFiles {
  servers: string[];
  nkeySeedFile: string;
  tls?: { ca: string; cert: string; key: string };
}

/** An identity's `nats` section; `servers` overrides the recorded URLs. */
export function connectionFiles(c: Credentials, name: string, servers = c.servers): NatsConnectionFiles {
  if (!c.identities.some((x) => x.name === name)) {
    throw bad("identity", `no identity ${JSON.stringify(name)} in ${c.dir} (have ${c.identities.map((x) => x.name).join(", ")})`);
  }
  return connectionFilesIn(c.dir, name, servers, c.tls !== undefined);
}

/**
 * Where writeCredentials() puts an identity's files, known before they exist (a config can be
 * written before the directory is filled).
 */
export function connectionFilesIn(dir: string, name: string, servers: string[], tls: boolean): NatsConnectionFiles {
  const f = (ext: string) => join(resolve(dir), `${name}.${ext}`);
  return {
    servers,
    nkeySeedFile: f("seed"),
    ...(tls ? { tls: { ca: join(resolve(dir), CA_FILE), cert: f("pem"), key: f("key") } } : {}),
  };
}
