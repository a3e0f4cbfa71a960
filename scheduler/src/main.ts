// drover-scheduler --config FILE
import { parseArgs } from "node:util";
import pino from "pino";
import { ConfigError, loadConfig } from "./config.js";
import { Scheduler } from "./scheduler.js";

const log = pino({ name: "drover-scheduler" });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" } }, strict: true });
  if (!values.config) throw new ConfigError("usage: drover-scheduler --config FILE");
  const config = await loadConfig(values.config);
  const s = Scheduler.create(config, { logger: log });
  await s.start();
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, "stopping");
    void s.shutdown().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((e: unknown) => {
  log.error({ err: e }, e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
