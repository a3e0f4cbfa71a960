import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { z } from "zod";
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from "@nats-io/nats-core";
import type { NodeConnectionOptions } from "@nats-io/transport-node";
import { cannotRead, issuesOf, type FieldIssue, type Logger } from "@drover/protocol";
import { InvalidOptionsError } from "./errors.js";

const isLogger = (v: unknown): v is Logger =>
  typeof v === "object" &&
  v !== null &&
  ["debug", "info", "warn", "error"].every((k) => typeof (v as Record<string, unknown>)[k] === "function");

const ms = z.number().int().nonnegative();

const optionsSchema = z
  .object({
    servers: z.array(z.string().min(1)).min(1, "at least one server URL is required"),
    /** Shown by the server's monitoring and in logs: e.g. "host-agent kvm07". */
    name: z.string().min(1),
    logger: z.custom<Logger>(isLogger, "must be a logger with debug/info/warn/error"),
    user: z.string().min(1).optional(),
    pass: z.string().optional(),
    /** A file holding the password (read at connect; never logged). */
    passFile: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** An nkey user seed ("SU..."), signed against the server nonce. */
    nkeySeed: z.string().startsWith("SU", "must be a user nkey seed (starts with SU)").optional(),
    /** A file holding an nkey user seed, as `drover credentials` writes it. */
    nkeySeedFile: z.string().min(1).optional(),
    /** A NATS .creds file (user JWT + seed). */
    credsFile: z.string().min(1).optional(),
    /** The server's certificate is always verified; certFile + keyFile make it mutual TLS. */
    tls: z
      .object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() })
      .strict()
      .refine((t) => !t.certFile === !t.keyFile, { message: "certFile and keyFile go together", path: ["certFile"] })
      .optional(),
    reconnectTimeWaitMs: ms.default(2000),
    /** Random extra delay before each reconnect so that a fleet of agents does not reconnect in step. */
    reconnectJitterMs: ms.default(1000),
    connectTimeoutMs: ms.positive().default(5000),
    pingIntervalMs: ms.positive().default(10_000),
    /** Keep retrying the first connection instead of failing (an agent started before its server). */
    waitOnFirstConnect: z.boolean().default(false),
    /**
     * Add the servers a cluster tells of to `servers` (reconnects may go to them). Off, only the
     * configured servers are ever connected to: a plain connection allowed because its servers are
     * on this machine must not follow a cluster to another one (`busConnectionOptions`).
     */
    discoverServers: z.boolean().default(true),
    requestTimeoutMs: ms.positive().default(5000),
    /**
     * Replies to this connection's requests (a JetStream publish's ack too) arrive under this prefix;
     * a host agent's or a scheduler's identity may read only its own (protocol's `subjects.hostInbox`,
     * `subjects.schedulerInbox`). Default `_INBOX`.
     */
    inboxPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "must be subject tokens without wildcards")
      .optional(),
    /** Invalid messages on one subject are logged at most once per interval, with counts by field. */
    invalidLogIntervalMs: ms.default(60_000),
  })
  .strict()
  .refine((o) => !(o.user && (o.token || o.tokenFile)), { message: "user and token are mutually exclusive", path: ["token"] })
  .refine((o) => !(o.token && o.tokenFile), { message: "token and tokenFile are mutually exclusive", path: ["tokenFile"] })
  .refine((o) => !((o.pass !== undefined || o.passFile) && !o.user), { message: "pass requires user", path: ["pass"] })
  .refine((o) => !(o.pass !== undefined && o.passFile), { message: "pass and passFile are mutually exclusive", path: ["passFile"] })
  .refine((o) => !(o.nkeySeed && o.nkeySeedFile), { message: "nkeySeed and nkeySeedFile are mutually exclusive", path: ["nkeySeedFile"] });

export type BusOptions = z.input<typeof optionsSchema>;
export type ResolvedBusOptions = z.output<typeof optionsSchema>;

/** Parses once into a fully defaulted object; a bad option fails here, naming it. */
export function resolveOptions(opts: BusOptions): ResolvedBusOptions {
  const r = optionsSchema.safeParse(opts);
  if (!r.success) {
    throw new InvalidOptionsError(issuesOf(r.error, optionsSchema), { cause: r.error });
  }
  return r.data;
}

/**
 * Reads every file the options name before anything dials, and fails naming each one that cannot
 * serve (all of them at once: option and path, never the contents).
 */
export async function natsOptions(o: ResolvedBusOptions): Promise<NodeConnectionOptions> {
  const issues: FieldIssue[] = [];
  const cannot = (field: string, file: string, e: unknown): undefined => {
    issues.push({ field, message: cannotRead(file, e) });
    return undefined;
  };
  /** A secret file's text, its last newline dropped; undefined (and an issue) when unreadable or empty. */
  const secret = async (field: string, file: string): Promise<string | undefined> => {
    const text = await readFile(file, "utf8").catch((e: unknown) => cannot(field, file, e));
    const v = text?.replace(/\r?\n$/, "");
    if (v !== undefined && !v.trim()) issues.push({ field, message: `${file} is empty` });
    return v?.trim() ? v : undefined;
  };
  // nats.js reads the TLS files itself, at connect, with an error that does not say which option.
  for (const [field, file] of Object.entries(o.tls ?? {}))
    if (file !== undefined) await access(file, constants.R_OK).catch((e: unknown) => cannot(`tls.${field}`, file, e));
  const seed = o.nkeySeedFile ? (await secret("nkeySeedFile", o.nkeySeedFile))?.trim() : o.nkeySeed;
  if (o.nkeySeedFile && seed !== undefined && !/^SU[A-Z2-7]+$/.test(seed))
    issues.push({ field: "nkeySeedFile", message: `${o.nkeySeedFile} does not hold a user nkey seed (SU...)` });
  const creds = o.credsFile ? await readFile(o.credsFile).catch((e: unknown) => cannot("credsFile", o.credsFile!, e)) : undefined;
  const pass = o.passFile ? await secret("passFile", o.passFile) : o.pass;
  const token = o.tokenFile ? await secret("tokenFile", o.tokenFile) : o.token;
  if (issues.length > 0) throw new InvalidOptionsError(issues);
  const authenticator: Authenticator[] = [];
  if (seed) authenticator.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  if (creds) authenticator.push(credsAuthenticator(new Uint8Array(creds)));
  return {
    servers: o.servers,
    name: o.name,
    ...(o.user ? { user: o.user, pass } : {}),
    ...(token ? { token } : {}),
    ...(authenticator.length ? { authenticator } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: o.reconnectTimeWaitMs,
    reconnectJitter: o.reconnectJitterMs,
    reconnectJitterTLS: o.reconnectJitterMs,
    timeout: o.connectTimeoutMs,
    pingInterval: o.pingIntervalMs,
    waitOnFirstConnect: o.waitOnFirstConnect,
    ignoreClusterUpdates: !o.discoverServers,
    ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
  };
}
