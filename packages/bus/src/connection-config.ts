// The `nats` section of the agent's and the scheduler's YAML, in one place: how to reach the
// server and who to be. Secrets live in files (or the environment), named here by path only.
import { z } from "zod";
import { isLoopbackHost, shownUrl, type Logger } from "@drover/protocol";
import { InvalidOptionsError } from "./errors.js";
import { natsOptions, resolveOptions, type BusOptions } from "./options.js";

const absPath = z.string().startsWith("/", "must be an absolute path");

export const natsConnectionFields = {
  servers: z
    .array(z.string().min(1))
    .min(1, "at least one server URL is required")
    .describe("NATS server URLs (nats://host:4222 or tls://host:4222); several for a cluster of servers."),
  user: z.string().min(1).optional().describe("User name (with pass or passFile)."),
  pass: z.string().optional().describe("Password; prefer passFile: a password in the YAML is readable by whoever reads the config."),
  passFile: absPath.optional().describe("A file holding the password."),
  token: z.string().min(1).optional().describe("Authentication token; prefer tokenFile."),
  tokenFile: absPath.optional().describe("A file holding the authentication token."),
  credsFile: absPath.optional().describe("A NATS .creds file (user JWT + seed)."),
  nkeySeedFile: absPath.optional().describe('A file holding an nkey user seed ("SU..."), as `drover credentials` writes it.'),
  tls: z
    .object({
      ca: absPath.optional().describe("CA certificate (PEM) the server's certificate is verified against (default: the system's CAs)."),
      cert: absPath.optional().describe("This client's certificate (PEM), for mutual TLS."),
      key: absPath.optional().describe("This client's private key (PEM), for mutual TLS."),
    })
    .strict()
    .optional()
    .describe("TLS to the servers; the server's certificate is always verified."),
  insecure: z
    .boolean()
    .optional()
    .describe(
      "Allow servers off this machine without TLS or without an identity (commands and reports would cross the network " +
        "in clear, or the server would have to let anyone in). Refused unless set; loopback servers need neither.",
    ),
};

/** What decides whether a connection is secure: the servers, TLS and any identity. */
interface Transport {
  servers: readonly string[];
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined;
  insecure?: boolean | undefined;
  user?: string | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  credsFile?: string | undefined;
  nkeySeedFile?: string | undefined;
}

/** The host of a server URL; a bare `host:port`, as NATS clients take it, is `nats://host:port`. Null when unparsable. */
function hostOfUrl(url: string): string | null {
  try {
    return new URL(url.includes("://") ? url : `nats://${url}`).hostname || null;
  } catch {
    return null;
  }
}

/**
 * The NATS identity a `nats` section uses, as an operator would look it up (a file, a user name,
 * a certificate), never a secret's value: what a refusal of the server's permissions points at.
 */
export function identityShown(n: Omit<Transport, "servers">): string {
  if (n.nkeySeedFile) return n.nkeySeedFile;
  if (n.credsFile) return n.credsFile;
  if (n.user) return `user ${JSON.stringify(n.user)}`;
  if (n.tokenFile) return `the token in ${n.tokenFile}`;
  if (n.token) return "the configured token";
  if (n.tls?.cert) return `the certificate ${n.tls.cert}`;
  return "the anonymous NATS identity";
}

/** A server of a `nats` section that would be reached without TLS or without an identity. */
export interface InsecureServer {
  readonly index: number;
  /** As it may be logged (`shownUrl`: no password written into it). */
  readonly url: string;
  /** What is missing and what it exposes. */
  readonly why: string;
}

/**
 * The servers off this machine (`isLoopbackHost`) that a `nats` section would reach without TLS or
 * without an identity (user, token, nkey, creds or a client certificate), whatever `insecure` says.
 */
export function insecureServers(n: Transport): InsecureServer[] {
  const identity = n.user ?? n.token ?? n.tokenFile ?? n.credsFile ?? n.nkeySeedFile ?? n.tls?.cert;
  const out: InsecureServer[] = [];
  n.servers.forEach((server, index) => {
    const host = hostOfUrl(server);
    if (host === null || isLoopbackHost(host)) return;
    const url = shownUrl(server);
    if (n.tls === undefined)
      out.push({
        index,
        url,
        why: "is not on this machine and nats.tls is not set: commands and reports would cross the network in clear",
      });
    else if (identity === undefined)
      out.push({ index, url, why: "is not on this machine and no identity is set: a server that lets this in lets anyone send commands" });
  });
  return out;
}

/**
 * Secure by default: the `nats` section's refinement. Each server must be a URL, and one off this
 * machine needs TLS and an identity unless `insecure` says otherwise. It runs at config load, so a
 * plain connection is never even tried.
 */
export function checkNatsTransport(n: Transport, ctx: z.RefinementCtx): void {
  n.servers.forEach((url, i) => {
    if (hostOfUrl(url) === null)
      ctx.addIssue({
        code: "custom",
        path: ["servers", i],
        message: `${shownUrl(url)} is not a server URL (nats://host:port or tls://host:port)`,
      });
  });
  if (n.insecure === true) return;
  for (const x of insecureServers(n))
    ctx.addIssue({
      code: "custom",
      path: ["servers", x.index],
      message:
        `${x.url} ${x.why}. Set nats.tls (ca; cert + key for mutual TLS) and an identity (nats.nkeySeedFile or credsFile, ` +
        "which `drover credentials` writes; user + passFile; tokenFile), or nats.insecure: true",
    });
}

/**
 * An app about to connect says, once per server, what `insecure` lets through: an operator reading
 * the log should not have to read the config to know.
 */
export function warnInsecureServers(n: Transport, log: Logger): void {
  if (n.insecure !== true) return;
  for (const x of insecureServers(n)) log.warn({ server: x.url }, `nats.insecure: ${x.url} ${x.why}`);
}

export const NatsConnectionConfig = z.object(natsConnectionFields).strict().superRefine(checkNatsTransport);
export type NatsConnectionConfig = z.output<typeof NatsConnectionConfig>;

type Connection = Pick<
  BusOptions,
  "servers" | "user" | "pass" | "passFile" | "token" | "tokenFile" | "credsFile" | "nkeySeedFile" | "tls" | "discoverServers"
>;

/** Bus.connect options of a config's `nats` section (combinations are checked by Bus.connect, naming the field). */
export function busConnectionOptions(n: Partial<NatsConnectionConfig> & { servers: string[] }): Connection {
  // Without TLS the servers are this machine's (checkNatsTransport) unless `insecure`: a cluster
  // telling of servers elsewhere must not lead a plain connection to them.
  const o: Connection = { servers: n.servers, discoverServers: n.tls !== undefined || n.insecure === true };
  if (n.user !== undefined) o.user = n.user;
  if (n.pass !== undefined) o.pass = n.pass;
  if (n.passFile !== undefined) o.passFile = n.passFile;
  if (n.token !== undefined) o.token = n.token;
  if (n.tokenFile !== undefined) o.tokenFile = n.tokenFile;
  if (n.credsFile !== undefined) o.credsFile = n.credsFile;
  if (n.nkeySeedFile !== undefined) o.nkeySeedFile = n.nkeySeedFile;
  if (n.tls) {
    const { ca, cert, key } = n.tls;
    o.tls = { ...(ca ? { caFile: ca } : {}), ...(cert ? { certFile: cert } : {}), ...(key ? { keyFile: key } : {}) };
  }
  return o;
}

/** A bus option's key in the `nats` section (busConnectionOptions renames the TLS files). */
const configKey = (field: string) => `nats.${field.replace(/^tls\.(ca|cert|key)File$/, "tls.$1")}`;

/**
 * What Bus.connect would refuse in a `nats` section before it dials, named by config key: a secret
 * or TLS file that cannot be read, a seed file without a seed. Connects to nothing (a config check).
 */
export async function natsFileProblems(n: NatsConnectionConfig, logger: Logger): Promise<string[]> {
  try {
    await natsOptions(resolveOptions({ ...busConnectionOptions(n), name: "config check", logger }));
    return [];
  } catch (e) {
    if (!(e instanceof InvalidOptionsError)) throw e;
    return e.issues.map((i) => `${configKey(i.field)}: ${i.message}`);
  }
}
