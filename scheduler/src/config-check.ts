// `drover-scheduler --check`: what would keep a scheduler started with this config from starting or
// from doing what it names, found without connecting to anything or opening the store. The checks
// are the start's own (the NATS files, the HTTPS files, the webhook secrets), plus the BMC password
// files a wake would read and the state directory the store is made in.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { natsFileProblems, warnInsecureServers } from "@drover/bus";
import { urlOf, type Logger } from "@drover/protocol";
import { tlsOption, warnOfPlainApi } from "./api/server.js";
import { systemClock } from "./clock.js";
import type { SchedulerConfig } from "./config.js";
import { Metrics } from "./metrics.js";
import { Webhooks } from "./webhooks.js";

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Said at every start and by --check: each opt-out from TLS on NATS, and each BMC password variable
 * this environment lacks (a wake of that host would fail, at night, when nobody watches).
 */
export function warnOfStartRisks(config: SchedulerConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  warnInsecureServers(config.nats, log);
  for (const [host, { power }] of Object.entries(config.hosts)) {
    const name = power.ipmi?.passwordEnv;
    if (name !== undefined && !env[name])
      log.warn({ host }, `hosts.${host}.power.ipmi.passwordEnv: ${name} is not set here: waking ${host} would fail`);
  }
}

/** Problems, each naming its key; empty when there are none. Warns as a start does (warnOfStartRisks, the API's plain HTTP). */
export async function configProblems(config: SchedulerConfig, log: Logger): Promise<string[]> {
  warnOfStartRisks(config, log);
  warnOfPlainApi(config.http, urlOf("http", config.http.host, config.http.port), log);
  const problems = await natsFileProblems(config.nats, log);
  try {
    tlsOption(config.http.tls);
  } catch (e) {
    problems.push((e as Error).message);
  }
  await Webhooks.create({
    config: config.webhooks,
    cluster: config.cluster,
    clock: systemClock,
    log,
    metrics: new Metrics(),
    recordFailure: () => undefined,
  }).catch((e: unknown) => problems.push((e as Error).message));
  for (const [host, { power }] of Object.entries(config.hosts)) {
    const file = power.ipmi?.passwordFile;
    if (file !== undefined)
      await access(file, constants.R_OK).catch((e: unknown) =>
        problems.push(`hosts.${host}.power.ipmi.passwordFile: cannot read ${file}: ${code(e)}`),
      );
  }
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
      if ((st.code !== "ENOENT" && st.code !== "ENOTDIR") || dirname(at) === at) return `cannot use ${at}: ${code(st)}`;
      at = dirname(at);
      continue;
    }
    if (!st.isDirectory()) return `${at} is not a directory`;
    return access(at, constants.W_OK | constants.X_OK).then(
      () => null,
      (e: unknown) => `cannot write in ${at}: ${code(e)}`,
    );
  }
}
