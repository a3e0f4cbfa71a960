// The `nats` section of the agent's and the scheduler's YAML, in one place: how to reach the
// server and who to be. Secrets live in files (or the environment), named here by path only.
import { z } from "zod";
import type { BusOptions } from "./options.js";

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
