// What an agent's config allows but an operator should hear of at every start, and `drover-agent
// --check`: what would keep an agent started with it from connecting or migrating, found without
// connecting to anything.
import { natsFileProblems, warnInsecureServers } from "@drover/bus";
import type { Logger } from "@drover/protocol";
import { migrationTlsDir, type AgentConfig } from "./config.js";
import { certDirProblem } from "./migration-tls.js";

/** Logged at every start (and by --check): each opt-out from a secure transport the config makes. */
export function warnOfPlainTransports(config: AgentConfig, log: Logger): void {
  warnInsecureServers(config.nats, log);
  // libvirt's default, kept so a first migration does not fail preflight for want of certificates.
  if (config.migration.tls !== true)
    log.warn({}, "migration.tls is off: a migrating guest's memory crosses the network in clear (README: Migration over TLS)");
}

/**
 * Problems beyond the schema (checked when the config was loaded): a NATS secret or TLS file that
 * cannot be read, and with migration.tls a cert dir QEMU could not migrate with. Empty: none.
 */
export async function configProblems(config: AgentConfig, log: Logger): Promise<string[]> {
  const problems = await natsFileProblems(config.nats, log);
  const certDir = migrationTlsDir(config);
  const tls = certDir === null ? null : await certDirProblem(certDir);
  if (tls !== null) problems.push(`migration.tlsCertDir: ${tls}`);
  return problems;
}
