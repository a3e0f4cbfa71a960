// The `nats` section of the agent's and the scheduler's YAML, in one place: how to reach the
// server and who to be. Secrets live in files (or the environment), named here by path only.
import { z } from "zod";
import type { BusOptions } from "./options.js";

const absPath = z.string().startsWith("/", "must be an absolute path");

export const natsConnectionFields = {
  servers: z.array(z.string().min(1)).min(1, "at least one server URL is required"),
  user: z.string().min(1).optional(),
  /** Prefer passFile: a password in the YAML is readable by whoever reads the config. */
  pass: z.string().optional(),
  passFile: absPath.optional(),
  token: z.string().min(1).optional(),
  tokenFile: absPath.optional(),
  /** A NATS .creds file (user JWT + seed). */
  credsFile: absPath.optional(),
  /** A file holding an nkey user seed ("SU..."), as `drover credentials` writes it. */
  nkeySeedFile: absPath.optional(),
  /** Mutual TLS; the server's certificate is always verified (against `ca`, else the system's CAs). */
  tls: z.object({ ca: absPath.optional(), cert: absPath.optional(), key: absPath.optional() }).strict().optional(),
};

export const NatsConnectionConfig = z.object(natsConnectionFields).strict();
export type NatsConnectionConfig = z.output<typeof NatsConnectionConfig>;

type Connection = Pick<BusOptions, "servers" | "user" | "pass" | "passFile" | "token" | "tokenFile" | "credsFile" | "nkeySeedFile" | "tls">;

/** Bus.connect options of a config's `nats` section (combinations are checked by Bus.connect, naming the field). */
export function busConnectionOptions(n: Partial<NatsConnectionConfig> & { servers: string[] }): Connection {
  const o: Connection = { servers: n.servers };
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
