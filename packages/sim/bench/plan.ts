// Plan time of @drover/policy's balance and consolidate on PlanetLab-derived clusters (CloudSim's
// reference setup: hosts alternating 2x1860 and 2x2660 MHz with 4 GiB, VM types by blocks of the
// sorted file list). It lives beside the simulator because that package holds the PlanetLab days;
// policy itself depends on nothing but protocol.
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { applyPlan, plan } from "@drover/policy";
import type { ClusterSnapshot, Host, Plan, Vm } from "@drover/policy";
import { loadPlanetLabDay, mulberry32, planetLabDays } from "../src/index.js";

const usage = `usage: npm run bench:plan -- [--day 20110303] [--runs N] [--small]
  --day DAY   PlanetLab day for the VM demand (${planetLabDays.join(", ")}; default 20110303)
  --runs N    plans per size and policy (default 40 at 800 hosts, 8 at 5,000, 4 at 20,000)
  --small     800 hosts only`;
const { values: args } = parseArgs({
  options: {
    day: { type: "string", default: "20110303" },
    runs: { type: "string" },
    small: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const runsOverride = args.runs === undefined ? undefined : Number(args.runs);
if (runsOverride !== undefined && (!Number.isInteger(runsOverride) || runsOverride < 1)) {
  throw new Error(`--runs must be a positive integer (got ${args.runs})`);
}
const day = args.day;
const workload = loadPlanetLabDay(day);
// CPU fractions of each VM's 288 samples (the workload's extra last sample left out).
const traces = workload.names.map((_, i) =>
  Array.from(workload.data.subarray(i * workload.stride, i * workload.stride + workload.stride - 1)),
);

const VM_MIPS = [2500, 2000, 1000, 500] as const;
const VM_RAM = [870, 1740, 1740, 613] as const;

function cluster(hostCount: number, vmCount: number, t: number): ClusterSnapshot {
  const hosts: Host[] = Array.from({ length: hostCount }, (_, i) => ({
    id: `host-${i}`,
    state: "healthy",
    cpuCores: 2,
    cpuCapacityMhz: i % 2 === 0 ? 2 * 1860 : 2 * 2660,
    memoryMiB: 4096,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 300_000 },
  }));
  const rand = mulberry32(vmCount);
  const perType = Math.ceil(vmCount / VM_MIPS.length);
  const vms: Vm[] = [];
  for (let i = 0; i < vmCount; i++) {
    const fileIdx = i < traces.length ? i : Math.floor(rand() * traces.length);
    const trace = traces[fileIdx] as number[];
    const type = Math.floor(i / perType);
    const mips = VM_MIPS[type] ?? 500;
    vms.push({
      id: `vm-${i}`,
      hostId: `host-${i % hostCount}`,
      vcpus: 1,
      memoryMiB: VM_RAM[type] ?? 613,
      cpuDemandMhzHistory: trace.slice(Math.max(0, t - 11), t + 1).map((u) => u * mips),
    });
  }
  return {
    hosts,
    vms,
    config: { capacity: { enforceMemory: true }, limits: { perSource: 1000, perDestination: 1000, perCluster: 100_000 } },
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
}

const sizes = args.small
  ? [{ hosts: 800, vms: 1052, runs: 40 }]
  : [
      { hosts: 800, vms: 1052, runs: 40 },
      { hosts: 5000, vms: 6575, runs: 8 },
      { hosts: 20_000, vms: 26_300, runs: 4 },
    ];
const NOW = 1_800_000_000_000;
const rows: string[][] = [];
for (const size of sizes) {
  const runs = runsOverride ?? size.runs;
  for (const policy of ["balance", "consolidate"] as const) {
    const args = policy === "consolidate" ? { band: { low: 0.5, high: 0.9 } } : {};
    const times: { first: number[]; steady: number[]; cpu: number[] } = { first: [], steady: [], cpu: [] };
    let last: Plan | null = null;
    let lastSteady: Plan | null = null;
    for (let r = 0; r < runs; r++) {
      const t = 12 + ((r * 37) % 270);
      const s = cluster(size.hosts, size.vms, t);
      let t0 = performance.now();
      const c0 = process.cpuUsage();
      const p = plan(s, policy, { nowMs: NOW, seed: r, args });
      times.first.push(performance.now() - t0);
      const cu = process.cpuUsage(c0);
      times.cpu.push((cu.user + cu.system) / 1000);
      last = p;
      // The steady state: plan again on the result (what a 300 s round mostly sees).
      const next = applyPlan(s, p);
      t0 = performance.now();
      lastSteady = plan(next, policy, { nowMs: NOW + 300_000, seed: r, args });
      times.steady.push(performance.now() - t0);
    }
    const steps = (p: Plan | null) => {
      const m = p?.steps.filter((x) => x.kind === "migrate").length ?? 0;
      const o = p?.steps.filter((x) => x.kind === "power-off").length ?? 0;
      return `${m} mig / ${o} off`;
    };
    rows.push([
      `${size.hosts} / ${size.vms}`,
      policy,
      pct(times.first, 0.5).toFixed(1),
      pct(times.first, 0.95).toFixed(1),
      pct(times.cpu, 0.5).toFixed(1),
      pct(times.steady, 0.5).toFixed(1),
      pct(times.steady, 0.95).toFixed(1),
      steps(last),
      steps(lastSteady),
      String(last?.metrics.activeHostsAfter ?? ""),
    ]);
  }
}

const table = new Table({
  head: ["hosts / VMs", "policy", "p50 ms", "p95 ms", "cpu p50", "steady p50", "steady p95", "first plan", "replan", "active after"],
  colAligns: ["right", "right", "right", "right", "right", "right", "right", "right", "right", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
table.push(...rows);
process.stdout.write(
  `policy plan time (wall ms), PlanetLab ${day} (${traces.length} files), round-robin start placement; load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}\n${table.toString()}\n`,
);
process.stdout.write(
  "targets: p50 <= 5 ms at 800 hosts, <= 250 ms at 20,000 hosts (wall; cpu = process CPU time, less sensitive to a busy machine)\n",
);
