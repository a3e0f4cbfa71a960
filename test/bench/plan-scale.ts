// Planning time at fleet scale without a fleet: the scheduler's cluster picture (ClusterState) is
// fed the same reports the soak's simulated agents publish (fleet.ts: 20 guests a host, PlanetLab
// load, a full history of samples), then a planning round is timed in its two phases, as
// Planner.compute runs them: the snapshot (buildSnapshot) and the policy (plan). The soak measures
// the same round through the real process (drover_plan_compute_seconds); this one can be profiled:
//   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx test/bench/plan-scale.ts --hosts 10000
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { applyPlan, historySamplesRead, plan, type ClusterSnapshot, type Plan } from "@drover/policy";
import type { HostReport } from "@drover/protocol";
import { ClusterState, buildSnapshot, parseConfig, plannerClusterConfig, type SchedulerConfig } from "@drover/scheduler";
import { FleetModel, fleetHost } from "./fleet.js";

const usage = `usage: npm run bench:plan-scale -- [--hosts 1000,10000] [--vms 20] [--runs 5] [--history 60]
  --hosts N,M   cluster sizes (simulated hosts; default 1000,10000)
  --vms N       guests per host (default 20, as the soak)
  --runs N      planning rounds timed per size (default 5)
  --history N   reports ingested per host before planning (default 60: the scheduler's full history)`;

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer (got "${raw}")\n${usage}`);
  return n;
}

const { values: args } = parseArgs({
  options: {
    help: { type: "boolean", short: "h", default: false },
    hosts: { type: "string", default: "1000,10000" },
    vms: { type: "string", default: "20" },
    runs: { type: "string", default: "5" },
    history: { type: "string", default: "60" },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const SIZES = args.hosts.split(",").map((s) => positive("hosts", s.trim()));
const VMS = positive("vms", args.vms);
const RUNS = positive("runs", args.runs);
const HISTORY = positive("history", args.history);
const CLUSTER = "bench";
const INTERVAL = 5000;
/** Real time per PlanetLab sample, as the soak's default. */
const SAMPLE = 30_000;

/** The soak's scheduler config (soak.ts): both policies automatic, every host wakeable by a peer. */
function config(hostCount: number): SchedulerConfig {
  const hosts = Object.fromEntries(
    Array.from({ length: hostCount }, (_, i) => {
      const h = fleetHost(i);
      return [h.id, { power: { wake: "peer-wol", mac: h.mac, address: h.address, wakeTimeoutMs: 120_000 } }];
    }),
  );
  return parseConfig({
    cluster: CLUSTER,
    nats: { servers: ["nats://127.0.0.1:4222"] },
    stateDir: "/nonexistent",
    reports: { intervalMs: INTERVAL },
    policies: {
      balance: { mode: "automatic", everyMs: 60_000 },
      consolidate: { mode: "automatic", everyMs: 120_000, window: { start: "00:00", end: "23:59", restoreBeforeEndMs: 0 } },
    },
    hosts,
  });
}

/** The scheduler's picture after `HISTORY` rounds of every host reporting; returns the time of the last. */
function picture(cfg: SchedulerConfig, hostCount: number): { state: ClusterState; nowMs: number } {
  const startMs = 1_800_000_000_000;
  const model = FleetModel.create(
    { cluster: CLUSTER, hosts: hostCount, vmsPerHost: VMS, reportIntervalMs: INTERVAL, sampleMs: SAMPLE, seed: 1 },
    startMs,
  );
  const state = new ClusterState(cfg.cluster, cfg.reports);
  let nowMs = startMs;
  // A host's guests change load once per trace sample: between samples the fleet's report differs
  // only in seq and time, so the last one is re-dated (builds the picture several times faster).
  const last = new Map<string, HostReport>();
  for (let r = 0; r < HISTORY; r++) {
    nowMs = startMs + r * INTERVAL;
    const fresh = r % (SAMPLE / INTERVAL) === 0;
    for (const h of model.hosts) {
      const prev = last.get(h.id);
      const report = fresh || !prev ? model.report(h, nowMs) : { ...prev, seq: prev.seq + 1, timeMs: nowMs };
      last.set(h.id, report);
      const res = state.ingest(report, nowMs);
      if (res !== "accepted") throw new Error(`report of ${h.id} not accepted: ${res}`);
    }
  }
  return { state, nowMs };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.95 * xs.length) - 1)]!;

/** Wall and CPU ms of one phase, recorded under its name (the machine is shared: CPU time says more). */
const times = new Map<string, { wall: number[]; cpu: number[] }>();
function timed<T>(phase: string, fn: () => T): T {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  let t = times.get(phase);
  if (!t) times.set(phase, (t = { wall: [], cpu: [] }));
  t.wall.push(wall);
  t.cpu.push((c.user + c.system) / 1000);
  return out;
}
const moves = (p: Plan) => {
  const m = p.steps.filter((x) => x.kind === "migrate").length;
  return `${m} moves, ${p.steps.length - m} power, ${p.deferred.length} deferred by the limits`;
};

const rows: string[][] = [];
for (const hostCount of SIZES) {
  const cfg = config(hostCount);
  const t0 = performance.now();
  const { state, nowMs } = picture(cfg, hostCount);
  process.stderr.write(
    `${hostCount} hosts: picture built from ${HISTORY} reports a host in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  times.clear();
  const outcome: Record<string, string> = {};
  const run = (phase: string, snap: ClusterSnapshot, kind: "consolidate" | "balance", at: number) => {
    // As Planner.compute runs a scheduled round.
    const p = timed(phase, () => plan(snap, cfg.policies[kind].policy ?? kind, { nowMs: at, seed: 1, args: cfg.policies[kind].args }));
    outcome[phase] = moves(p);
    return p;
  };
  // As Planner.compute: the histories carry the samples the policies read, no more.
  const policies = (["consolidate", "balance"] as const).map((k) => ({ policy: cfg.policies[k].policy ?? k, args: cfg.policies[k].args }));
  const historySamples = historySamplesRead(plannerClusterConfig(cfg), policies);
  for (let r = 0; r < RUNS; r++) {
    const snap = timed("snapshot", () =>
      buildSnapshot(state, cfg, nowMs, { inFlight: [], recentFailures: [], lastMoves: new Map(), historySamples }),
    );
    outcome.snapshot = `${snap.hosts.length} hosts, ${snap.vms.length} VMs`;
    const p = run("consolidate", snap, "consolidate", nowMs);
    run("balance", snap, "balance", nowMs);
    // The next round sees the moves done: what most rounds of a running scheduler plan on.
    run("consolidate replan", applyPlan(snap, p), "consolidate", nowMs + 120_000);
  }
  for (const [phase, t] of times) {
    rows.push([String(hostCount), phase, mean(t.wall).toFixed(0), p95(t.wall).toFixed(0), mean(t.cpu).toFixed(0), outcome[phase] ?? ""]);
  }
}

const table = new Table({
  head: ["hosts", "phase", "mean ms", "p95 ms", "cpu mean ms", "outcome"],
  colAligns: ["right", "left", "right", "right", "right", "left"],
  style: { head: [], border: [] },
});
table.push(...rows);
process.stdout.write(
  `planning round (wall ms), ${VMS} guests a host, ${HISTORY} reports of history, ${RUNS} runs; load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}\n${table.toString()}\n`,
);
process.stdout.write("target: snapshot + consolidate (one scheduled round) under 1 s at 10,000 hosts\n");
