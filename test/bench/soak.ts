// Soak: the real scheduler process (its own binary, config file, SQLite store, HTTP API) on a real
// nats-server, driven by a fleet of simulated agents (test/bench/fleet.ts) for a set time. Prints
// what an operator sizing Drover asks: reports ingested per second, the scheduler's RSS over time,
// event-loop lag, planning time, plans and moves, and every broken invariant (must be 0).
// A measurement, not a test: run it on a quiet machine.
//   npm run bench:soak -- --agents 1000 --minutes 30
import { spawn, execFile } from "node:child_process";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify, parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import Table from "cli-table3";
import { NatsServer, freePort } from "@drover/bus/testing";
import { Fleet, fleetHost, type Violations } from "./fleet.js";

const usage = `usage: npm run bench:soak -- [--agents 1000] [--minutes 30] [--vms 20] [--interval-ms 5000] [--sample-ms 30000]
  --agents N       simulated host agents (default 1000)
  --minutes M      how long the fleet runs (default 30; fractions allowed)
  --vms N          guests per host at the start (default 20)
  --interval-ms T  each agent's report interval (default 5000, the agent's default)
  --sample-ms T    real time per PlanetLab trace sample (default 30000: a day replayed 10x fast)
  --boot-ms T      time a woken host takes to report again (default 20000)
  --seed N         fleet seed (default 1)
  --profile DIR    write a V8 CPU profile of the scheduler process into DIR (open it in Chrome DevTools)`;

function positive(name: string, raw: string, integer = true): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    process.stderr.write(`bench:soak: --${name} must be a positive ${integer ? "integer" : "number"} (got "${raw}")\n${usage}\n`);
    process.exit(2);
  }
  return n;
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      help: { type: "boolean", short: "h", default: false },
      agents: { type: "string", default: "1000" },
      minutes: { type: "string", default: "30" },
      vms: { type: "string", default: "20" },
      "interval-ms": { type: "string", default: "5000" },
      "sample-ms": { type: "string", default: "30000" },
      "boot-ms": { type: "string", default: "20000" },
      seed: { type: "string", default: "1" },
      profile: { type: "string" },
    },
  }));
} catch (e) {
  process.stderr.write(`bench:soak: ${(e as Error).message}\n${usage}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const AGENTS = positive("agents", args.agents);
const MINUTES = positive("minutes", args.minutes, false);
const VMS = positive("vms", args.vms);
const INTERVAL = positive("interval-ms", args["interval-ms"]);
const SAMPLE = positive("sample-ms", args["sample-ms"]);
const BOOT = positive("boot-ms", args["boot-ms"]);
const SEED = positive("seed", args.seed);
const CLUSTER = "soak";
const REPO = join(import.meta.dirname, "..", "..");
const SCRAPE_MS = 5000;

/** Sums a Prometheus text-format metric over the label sets matching `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== " " && line[name.length] !== "{")) continue;
    if (Object.entries(labels).some(([k, v]) => !line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

const rssMiB = async (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};

const dir = await mkdtemp(join(tmpdir(), "drover-soak-"));
const nats = await NatsServer.start();
const port = await freePort();
const hosts = Object.fromEntries(
  Array.from({ length: AGENTS }, (_, i) => {
    const h = fleetHost(i);
    return [h.id, { power: { wake: "peer-wol", mac: h.mac, address: h.address, wakeTimeoutMs: BOOT * 6 } }];
  }),
);
const configFile = join(dir, "scheduler.yaml");
// JSON is YAML: the scheduler reads it through its own loader, as an operator's file would be.
await writeFile(
  configFile,
  JSON.stringify({
    cluster: CLUSTER,
    nats: { servers: [nats.url] },
    stateDir: dir,
    http: { host: "127.0.0.1", port },
    reports: { intervalMs: INTERVAL },
    policies: {
      balance: { mode: "automatic", everyMs: 60_000 },
      consolidate: { mode: "automatic", everyMs: 120_000, window: { start: "00:00", end: "23:59", restoreBeforeEndMs: 0 } },
    },
    hosts,
  }),
);
const token = (
  await promisify(execFile)(
    process.execPath,
    [join(REPO, "scheduler/bin/drover-scheduler.js"), "token", "create", "--config", configFile, "--role", "viewer", "--name", "soak"],
    { cwd: REPO },
  )
).stdout.trim();
const log = await open(join(dir, "scheduler.log"), "a");
const profile = args.profile ? ["--cpu-prof", "--cpu-prof-dir", args.profile] : [];
const sched = spawn(process.execPath, [...profile, join(REPO, "scheduler/bin/drover-scheduler.js"), "--config", configFile], {
  cwd: REPO,
  stdio: ["ignore", log.fd, log.fd],
});
let exited = null as string | null;
sched.once("exit", (code, sig) => (exited = `exited (${sig ?? code})`));

async function scrape(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`GET /metrics: HTTP ${r.status}`);
  return r.text();
}
for (let i = 0; ; i++) {
  if (exited) throw new Error(`the scheduler ${exited} at start: see ${dir}/scheduler.log`);
  try {
    await scrape();
    break;
  } catch (e) {
    if (i > 120) throw e;
    await sleep(500);
  }
}

interface Sample {
  atS: number;
  load1: number;
  rssMiB: number;
  /** V8's heap in use (prom-client's default metric): what the scheduler holds, less the garbage not yet collected than RSS. */
  heapMiB: number;
  reports: number;
  lagP99S: number;
}
const samples: Sample[] = [];
/**
 * Each planning round's time, from the planning histogram's sum and count per kind between two
 * scrapes (rounds are a minute or more apart; two of a kind in one 5 s window are shown as their mean).
 */
const roundTimes: { kind: string; ms: number; n: number }[] = [];
const PLAN_KINDS = ["balance", "consolidate", "drain"] as const;
const planned = Object.fromEntries(PLAN_KINDS.map((k) => [k, { sum: 0, count: 0 }]));
function recordRounds(text: string): void {
  for (const kind of PLAN_KINDS) {
    const sum = metric(text, "drover_plan_compute_seconds_sum", { kind });
    const count = metric(text, "drover_plan_compute_seconds_count", { kind });
    const before = planned[kind]!;
    if (count > before.count) roundTimes.push({ kind, ms: ((sum - before.sum) / (count - before.count)) * 1000, n: count - before.count });
    planned[kind] = { sum, count };
  }
}
const t0 = Date.now();
const fleet = await Fleet.start({
  url: nats.url,
  cluster: CLUSTER,
  hosts: AGENTS,
  vmsPerHost: VMS,
  reportIntervalMs: INTERVAL,
  sampleMs: SAMPLE,
  bandwidthMiBs: 1024,
  bootMs: BOOT,
  seed: SEED,
});
process.stderr.write(`soak: ${AGENTS} agents x ${VMS} guests for ${MINUTES} min; state and log in ${dir}\n`);
let last = "";
const endAt = t0 + MINUTES * 60_000;
while (Date.now() < endAt && !exited) {
  await sleep(Math.min(SCRAPE_MS, Math.max(0, endAt - Date.now())));
  last = await scrape();
  recordRounds(last);
  samples.push({
    atS: (Date.now() - t0) / 1000,
    load1: loadavg()[0]!,
    rssMiB: await rssMiB(sched.pid!),
    heapMiB: metric(last, "nodejs_heap_size_used_bytes") / 1024 / 1024,
    reports: metric(last, "drover_reports_total"),
    lagP99S: metric(last, "nodejs_eventloop_lag_p99_seconds"),
  });
}
const census = fleet.census();
const diedEarly = exited;
await fleet.stop();
sched.kill("SIGTERM");
await new Promise((r) => (exited ? r(null) : sched.once("exit", r)));
await nats.stop();

// Rates and RSS after warm-up (the first tenth of the run, at least a minute): growth measures leaks.
const warm = samples.find((s) => s.atS >= Math.max(60, (MINUTES * 60) / 10)) ?? samples[0]!;
const mid = samples[Math.floor(samples.length / 2)]!;
/** A minute of samples (or what there is). */
const MINUTE_SAMPLES = Math.max(1, Math.round(60_000 / SCRAPE_MS));
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
/** Growth of the last minute's median over the median of the minute from warm-up on, as a percentage. */
function growth(of: (s: Sample) => number): string {
  const from = samples.indexOf(warm);
  const first = median(samples.slice(from, from + MINUTE_SAMPLES).map(of));
  const lastMinute = median(samples.slice(-MINUTE_SAMPLES).map(of));
  return `${(((lastMinute - first) / first) * 100).toFixed(1)} %`;
}
const end = samples.at(-1)!;
const lags = samples.map((s) => s.lagP99S * 1000).sort((a, b) => a - b);
const rates = samples.slice(1).map((s, i) => (s.reports - samples[i]!.reports) / (s.atS - samples[i]!.atS));
const expected = AGENTS / (INTERVAL / 1000);
const bucketLe1 = metric(last, "drover_plan_compute_seconds_bucket", { le: "1" });
const rounds = metric(last, "drover_plan_compute_seconds_count");
const v: Violations = fleet.violations;
const broken = Object.values(v).reduce((a, b) => a + b, 0);
const t = new Table({ head: ["measure", "value", "note"], style: { head: [], border: [] } });
t.push(
  ["agents x guests", `${AGENTS} x ${VMS}`, `${census.vms} guests at the end, ${census.hostsUp} hosts up`],
  ["run", `${(end.atS / 60).toFixed(1)} min`, diedEarly ? `scheduler ${diedEarly}` : "scheduler up to the end"],
  [
    "reports ingested / s",
    `${((end.reports - warm.reports) / (end.atS - warm.atS)).toFixed(0)}`,
    `published: ${expected.toFixed(0)}/s with every host up; lowest 5 s window ${Math.min(...rates).toFixed(0)}/s`,
  ],
  [
    "scheduler RSS MiB",
    `${samples[0]!.rssMiB.toFixed(0)} / ${warm.rssMiB.toFixed(0)} / ${mid.rssMiB.toFixed(0)} / ${end.rssMiB.toFixed(0)}`,
    "first / after warm-up / middle / end",
  ],
  ["RSS growth after warm-up", `${(((end.rssMiB - warm.rssMiB) / warm.rssMiB) * 100).toFixed(1)} %`, "flat: under 10 %"],
  [
    "same, minute medians",
    `RSS ${growth((s) => s.rssMiB)}, heap used ${growth((s) => s.heapMiB)}`,
    "the median of the last minute's samples against the minute after warm-up: one 5 s reading falls wherever the GC happens to be",
  ],
  [
    "V8 heap used MiB",
    `${samples[0]!.heapMiB.toFixed(0)} / ${warm.heapMiB.toFixed(0)} / ${mid.heapMiB.toFixed(0)} / ${end.heapMiB.toFixed(0)}`,
    "first / after warm-up / middle / end",
  ],
  [
    "event-loop lag p99 ms",
    `${lags[Math.floor(lags.length / 2)]!.toFixed(1)} / ${lags.at(-1)!.toFixed(1)}`,
    `median / worst of ${samples.length} 5 s windows`,
  ],
  [
    "planning rounds",
    `${rounds}`,
    `${rounds - bucketLe1} over 1 s; mean ${((metric(last, "drover_plan_compute_seconds_sum") / rounds) * 1000).toFixed(0)} ms`,
  ],
  [
    "each round ms",
    roundTimes.map((r) => `${r.ms.toFixed(0)}${r.n > 1 ? ` (x${r.n})` : ""}`).join(", ") || "-",
    roundTimes.map((r) => r.kind).join(", ") || "no round",
  ],
  [
    "plans made",
    `${metric(last, "drover_plans_total")}`,
    `balance ${metric(last, "drover_plans_total", { kind: "balance" })}, consolidate ${metric(last, "drover_plans_total", { kind: "consolidate" })}`,
  ],
  [
    "moves dispatched",
    `${fleet.counts.moves}`,
    `${fleet.counts.movesSucceeded} succeeded; scheduler: ${metric(last, "drover_migrations_total", { outcome: "succeeded" })} succeeded`,
  ],
  ["power", `${fleet.counts.powerOffs} off / ${fleet.counts.wakes} woken`, `${fleet.counts.commands} commands in all`],
  [
    "machine load (1 min avg)",
    `${Math.min(...samples.map((s) => s.load1)).toFixed(1)} - ${Math.max(...samples.map((s) => s.load1)).toFixed(1)}`,
    "lowest - highest seen; 2 cores",
  ],
  ["invariants broken", `${broken}`, broken ? JSON.stringify(Object.fromEntries(Object.entries(v).filter(([, n]) => n > 0))) : "none"],
);
process.stdout.write(`${t.toString()}\n`);
await log.close();
if (!broken && !diedEarly) await rm(dir, { recursive: true, force: true });
process.exitCode = broken || diedEarly ? 1 : 0;
