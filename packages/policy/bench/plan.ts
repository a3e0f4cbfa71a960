import { fileURLToPath } from "node:url";
// Plan time of balance and consolidate on PlanetLab-derived clusters (CloudSim's reference setup:
// hosts alternating 2×1860 and 2×2660 MHz with 4 GiB, VM types by blocks of the sorted file list).
// Usage: node --import tsx packages/policy/bench/plan.ts [--day 20110303] [--runs N]
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { applyPlan, plan } from "../src/index.js";
import type { ClusterSnapshot, Host, Plan, Vm } from "../src/index.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : dflt;
};
const day = opt("day", "20110303");
const runsOverride = Number(opt("runs", "0"));
const dir = join(process.env.PLANETLAB_DIR ?? fileURLToPath(new URL("../../../../shared/planetlab", import.meta.url)), day);

const files = readdirSync(dir).sort(); // byte-wise, as in the reference
const traces = files.map((f) =>
  readFileSync(join(dir, f), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => Number(l) / 100),
);

const VM_MIPS = [2500, 2000, 1000, 500] as const;
const VM_RAM = [870, 1740, 1740, 613] as const;

/** Deterministic generator (mulberry32) so larger clusters reuse files the same way every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cluster(hostCount: number, vmCount: number, t: number): ClusterSnapshot {
  const hosts: Host[] = Array.from({ length: hostCount }, (_, i) => ({
    id: `host-${i}`,
    state: "healthy",
    cpuCores: 2,
    cpuCapacityMhz: i % 2 === 0 ? 2 * 1860 : 2 * 2660,
    memoryMiB: 4096,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 300_000 },
  }));
  const rand = rng(vmCount);
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

const sizes =
  process.env.BENCH_SIZES === "small"
    ? [{ hosts: 800, vms: 1052, runs: 40 }]
    : [
        { hosts: 800, vms: 1052, runs: 40 },
        { hosts: 5000, vms: 6575, runs: 8 },
        { hosts: 20_000, vms: 26_300, runs: 4 },
      ];
const NOW = 1_800_000_000_000;
const rows: string[][] = [];
for (const size of sizes) {
  const runs = runsOverride > 0 ? runsOverride : size.runs;
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

const header = ["hosts / VMs", "policy", "p50 ms", "p95 ms", "cpu p50", "steady p50", "steady p95", "first plan", "replan", "active after"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
process.stdout.write(
  `policy plan time (wall ms), PlanetLab ${day} (${traces.length} files), round-robin start placement; load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}\n`,
);
process.stdout.write(`${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
process.stdout.write(
  "targets: p50 <= 5 ms at 800 hosts, <= 250 ms at 20,000 hosts (wall; cpu = process CPU time, less sensitive to a busy machine)\n",
);
