import { parseArgs } from "node:util";
import { collectDefaultMetrics } from "prom-client";
import { HostAgent } from "./agent.js";
import { configProblems } from "./config-check.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

const USAGE = "usage: drover-agent [--check] --config FILE";

/**
 * `drover-agent --config FILE`: runs until SIGTERM/SIGINT, then shuts down cleanly and exits 0.
 * With --check it only checks the config and the files it names, connecting to nothing: exit 0 when
 * an agent would start and migrate with it, 2 naming each problem.
 */
export async function main(argv: string[]): Promise<number> {
  let values: { config?: string | undefined; check?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: "string", short: "c" }, check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    process.stderr.write(`drover-agent: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = values.config;
  if (!file) {
    process.stderr.write(`drover-agent: --config FILE is required\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(file);
  } catch (e) {
    process.stderr.write(`drover-agent: ${(e as Error).message}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel, config.host);
  if (values.check) {
    const problems = await configProblems(config, log);
    for (const p of problems) process.stderr.write(`drover-agent: ${file}: ${p}\n`);
    if (problems.length === 0)
      process.stderr.write(`drover-agent: ${file}: config OK for host ${config.host} of cluster ${config.cluster}\n`);
    return problems.length === 0 ? 0 : 2;
  }
  let agent: HostAgent;
  try {
    agent = await HostAgent.create(config, { logger: log });
  } catch (e) {
    log.error({ err: e }, "agent could not start");
    return 1;
  }
  // Process metrics (RSS, CPU, event loop) belong to the process: one agent per process here.
  collectDefaultMetrics({ register: agent.metrics.registry });
  const stop = (sig: string) => {
    log.info({ signal: sig }, "signal received");
    void agent.shutdown();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  await agent.run();
  log.info({}, "agent stopped");
  // Everything is closed; should a library still hold a handle, do not hang the service manager.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
