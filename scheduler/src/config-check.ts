// `drover-scheduler --check`: what would keep a scheduler started with this config from starting or
// from doing what it names, found without connecting to anything or opening the store. The checks
// are the start's own (the NATS files, the HTTPS files, the webhook secrets), plus the BMC password
// files a wake would read and the state directory the store is made in.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { natsFileProblems, warnInsecureServers } from "@drover/bus";
import { errnoOf, urlOf, type Logger } from "@drover/protocol";
import { tlsOption, warnOfPlainApi } from "./api/server.js";
import type { SchedulerConfig } from "./config.js";
import { bmcPasswordProblem } from "./power/wake-drivers.js";
import { readReceiverSecrets, warnOfPlainReceivers } from "./webhooks.js";

/** Each host whose BMC password is not where its config says (what a wake would find: `bmcPasswordProblem`). */
async function bmcPasswordProblems(config: SchedulerConfig, env: NodeJS.ProcessEnv) {
  const out: { host: string; key: "passwordFile" | "passwordEnv"; line: string }[] = [];
  for (const [host, { power }] of Object.entries(config.hosts)) {
    const p = power.ipmi && (await bmcPasswordProblem(power.ipmi, env));
    if (p) out.push({ host, key: p.key, line: `hosts.${host}.power.ipmi.${p.key}: ${p.message}` });
  }
  return out;
}

/**
 * Said at every start: each opt-out from TLS on NATS, and each BMC password a wake would not find
 * (it would fail at night, when nobody watches).
 */
export async function warnOfStartRisks(config: SchedulerConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  warnInsecureServers(config.nats, log);
  for (const p of await bmcPasswordProblems(config, env)) log.warn({ host: p.host }, `${p.line}: waking ${p.host} would fail`);
}

/**
 * Problems, each naming its key; empty when there are none. Warns as a start does of the plain
 * transports, and of a BMC password variable this shell lacks: the service's environment may have it.
 */
export async function configProblems(config: SchedulerConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  warnInsecureServers(config.nats, log);
  warnOfPlainApi(config.http, urlOf("http", config.http.host, config.http.port), log);
  warnOfPlainReceivers(config.webhooks, log);
  const problems = await natsFileProblems(config.nats, log);
  try {
    tlsOption(config.http.tls);
  } catch (e) {
    problems.push((e as Error).message);
  }
  await readReceiverSecrets(config.webhooks).catch((e: unknown) => problems.push((e as Error).message));
  for (const p of await bmcPasswordProblems(config, env))
    if (p.key === "passwordFile") problems.push(p.line);
    else log.warn({ host: p.host }, `${p.line}: waking ${p.host} would fail`);
  const dir = await stateDirProblem(config.stateDir);
  if (dir !== null) problems.push(`stateDir: ${dir}`);
  return problems;
}

/** The store is made in stateDir, created with its parents: the nearest existing one must be a directory this process may write. */
async function stateDirProblem(dir: string): Promise<string | null> {
  let at = dir;
  for (;;) {
    const st = await stat(at).catch((e: unknown) => e as NodeJS.ErrnoException);
    if (st instanceof Error) {
      // ENOTDIR: a parent is a file; walking up names it.
      if ((st.code !== "ENOENT" && st.code !== "ENOTDIR") || dirname(at) === at) return `cannot use ${at}: ${errnoOf(st)}`;
      at = dirname(at);
      continue;
    }
    if (!st.isDirectory()) return `${at} is not a directory`;
    return access(at, constants.W_OK | constants.X_OK).then(
      () => null,
      (e: unknown) => `cannot write in ${at}: ${errnoOf(e)}`,
    );
  }
}
