// drover-scheduler [--check] --config FILE
//   With --check: checks the config and the files it names, connecting to nothing; exit 0 when a
//   scheduler would start with it, 2 naming each problem.
// drover-scheduler token create|list|revoke --config FILE [--role R --name N [--secret-file F] [--expires WHEN] | NAME]
//   Manages the HTTP API's tokens in the scheduler's store directly, on the scheduler host: how the
//   first admin token is made (afterwards `drover token ...` does the same through the API). With
//   several schedulers, --secret-file registers a token made on one on the others too (give each the
//   same --expires time, an ISO time rather than a duration).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { collectDefaultMetrics } from "prom-client";
import { timeArg } from "@drover/protocol";
import { Store } from "@drover/store";
import { TokenBook } from "./api/tokens.js";
import { configProblems } from "./config-check.js";
import { ConfigError, loadConfig } from "./config.js";
import { Scheduler } from "./scheduler.js";

const log = pino({ name: "drover-scheduler" });
const USAGE = "usage: drover-scheduler [--check] --config FILE";
const TOKEN_USAGE =
  "usage: drover-scheduler token create --config FILE --role viewer|operator|admin --name NAME [--secret-file FILE] " +
  "[--expires 90d|2027-03-01T00:00:00Z] | list | revoke NAME";

async function token(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: "string", short: "c" },
      role: { type: "string" },
      name: { type: "string" },
      "secret-file": { type: "string" },
      expires: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const [action, target] = positionals;
  if (!values.config) throw new ConfigError(TOKEN_USAGE);
  const config = await loadConfig(values.config);
  using store = Store.open({ path: join(config.stateDir, "drover.sqlite") });
  const book = new TokenBook(store, Date.now);
  // Recorded in the history like an API caller's name, so a host-side change is told apart.
  const by = `host:${process.env["USER"] ?? "unknown"}`;
  const secretFile = values["secret-file"];
  let expiresAtMs: number | undefined;
  if (values.expires !== undefined) {
    const t = timeArg(values.expires, Date.now(), "ahead");
    if ("error" in t) throw new ConfigError(`--expires ${JSON.stringify(values.expires)} ${t.error}`);
    expiresAtMs = t.ms;
  }
  const until = expiresAtMs === undefined ? "" : `, until ${new Date(expiresAtMs).toISOString()}`;
  if (action === "create" && values.role && values.name && !target && secretFile) {
    // A secret never goes on a command line; the file's is registered and not shown again.
    book.create(values.name, values.role, by, { secret: (await readFile(secretFile, "utf8")).trim(), expiresAtMs });
    process.stderr.write(`token "${values.name}" (${values.role}${until}) registered from ${secretFile}\n`);
  } else if (action === "create" && values.role && values.name && !target) {
    // stdout carries only the secret, so `> file` (or a pipe) captures it and nothing else.
    process.stdout.write(`${book.create(values.name, values.role, by, { expiresAtMs }).token}\n`);
    process.stderr.write(`token "${values.name}" (${values.role}${until}) created; it is shown only this once\n`);
  } else if (action === "list" && !target) {
    const iso = (ms: number) => new Date(ms).toISOString();
    const now = Date.now();
    for (const t of book.list()) {
      const state =
        t.revokedAtMs !== null
          ? `revoked ${iso(t.revokedAtMs)}`
          : t.expiresAtMs === null
            ? "active"
            : `${t.expiresAtMs <= now ? "expired" : "active, expires"} ${iso(t.expiresAtMs)}`;
      // Last used (to the minute): whether revoking it would stop someone.
      process.stdout.write(`${t.name}\t${t.role}\t${state}\t${t.lastUsedAtMs === null ? "never used" : `used ${iso(t.lastUsedAtMs)}`}\n`);
    }
  } else if (action === "revoke" && target) {
    book.revoke(target, by);
    process.stderr.write(`token "${target}" revoked\n`);
  } else throw new ConfigError(TOKEN_USAGE);
}

async function main(): Promise<void> {
  if (process.argv[2] === "token") return token(process.argv.slice(3));
  const { values } = parseArgs({
    options: { config: { type: "string", short: "c" }, check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n${TOKEN_USAGE}\n`);
    return;
  }
  if (!values.config) throw new ConfigError(USAGE);
  const config = await loadConfig(values.config);
  if (values.check) {
    const problems = await configProblems(config, log);
    for (const p of problems) process.stderr.write(`drover-scheduler: ${values.config}: ${p}\n`);
    if (problems.length === 0) process.stderr.write(`drover-scheduler: ${values.config}: config OK for cluster ${config.cluster}\n`);
    process.exitCode = problems.length === 0 ? 0 : 2;
    return;
  }
  const s = Scheduler.create(config, { logger: log });
  // Process metrics (RSS, event-loop lag, GC) belong to the process: one scheduler per process here.
  collectDefaultMetrics({ register: s.metrics.registry });
  await s.start().catch(async (e: unknown) => {
    // A start that failed half way (NATS connected, then refused) leaves nothing open: the process ends.
    await s.shutdown().catch(() => undefined);
    throw e;
  });
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
  const message = e instanceof Error ? e.message : String(e);
  // A bad command line or config is a person's mistake at a shell (or in a unit file): one plain
  // line naming it, exit 2, as drover-agent does; anything later is logged as a JSON record.
  const badInput = e instanceof ConfigError || (e instanceof Error && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"));
  if (process.argv[2] === "token") process.stderr.write(`drover-scheduler token: ${message}\n`);
  else if (badInput) process.stderr.write(`drover-scheduler: ${message}\n`);
  else log.error({ err: e }, message);
  process.exitCode = badInput ? 2 : 1;
});
