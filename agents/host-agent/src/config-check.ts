// What an agent's config allows but an operator should hear of at every start, and `drover-agent
// --check`: what would keep an agent started with it from connecting or migrating, found without
// connecting to anything.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";
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
 * cannot be read, with migration.tls a cert dir QEMU could not migrate with, and a power-off command
 * that could not run (its program not found, as spawn looks it up, or its cwd not a directory). Empty: none.
 * Warns as a start does (`warnOfPlainTransports`).
 */
export async function configProblems(config: AgentConfig, log: Logger): Promise<string[]> {
  warnOfPlainTransports(config, log);
  const problems = await natsFileProblems(config.nats, log);
  const certDir = migrationTlsDir(config);
  const tls = certDir === null ? null : await certDirProblem(certDir);
  if (tls !== null) problems.push(`migration.tlsCertDir: ${tls}`);
  const { offCommand, offCwd } = config.power;
  if (offCommand !== undefined && !(await findExecutable(offCommand[0]!, offCwd)))
    problems.push(
      `power.offCommand: ${offCommand[0]} is not an executable file${offCommand[0]!.includes("/") ? "" : ` on PATH (${process.env["PATH"] ?? ""})`}`,
    );
  if (offCwd !== undefined && !(await isDirectory(offCwd))) problems.push(`power.offCwd: ${offCwd} is not a directory`);
  return problems;
}

const isDirectory = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** Whether spawn would find `program`: a path (relative: to `cwd`) as it is, a bare name in a directory of PATH. */
async function findExecutable(program: string, cwd = process.cwd()): Promise<boolean> {
  const isExe = (p: string) =>
    access(p, constants.X_OK).then(
      () => stat(p).then((s) => s.isFile()),
      () => false,
    );
  if (program.includes("/")) return isExe(resolve(cwd, program));
  for (const dir of (process.env["PATH"] ?? "").split(delimiter).filter(Boolean)) if (await isExe(join(dir, program))) return true;
  return false;
}
