import { fileURLToPath } from "node:url";
// A quick what-if of consolidate on a PlanetLab day (800 hosts, 300 s rounds), for tuning the
// band and forecast; the real simulator is packages/sim. Energy uses CloudSim's SPECpower tables
// for the ML110 G4/G5; the oracle is a per-interval first-fit-decreasing packing of the actual
// demand. Overload = share of active host-intervals whose actual demand exceeds capacity.
// Usage: node --import tsx packages/policy/bench/replay.ts [--day 20110303] [--memory]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { applyPlan, plan } from "../src/index.js";
import type { ClusterConfigInput, ClusterSnapshot, Host, Vm } from "../src/index.js";

const argv = process.argv.slice(2);
const day = argv.includes("--day") ? (argv[argv.indexOf("--day") + 1] as string) : "20110303";
const enforceMemory = argv.includes("--memory");
const dir = join(process.env.PLANETLAB_DIR ?? fileURLToPath(new URL("../../../../shared/planetlab", import.meta.url)), day);
const traces = readdirSync(dir)
  .sort()
  .map((f) =>
    readFileSync(join(dir, f), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => Number(l) / 100),
  );
const HOSTS = 800;
const MIPS = [2500, 2000, 1000, 500] as const;
const RAM = [870, 1740, 1740, 613] as const;
const G4 = [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117];
const G5 = [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135];
const cap = (h: number) => (h % 2 === 0 ? 3720 : 5320);
const power = (h: number, u: number) => {
  const t = h % 2 === 0 ? G4 : G5;
  const x = Math.min(1, Math.max(0, u)) * 10;
  const i = Math.floor(x);
  const lo = t[i] ?? 0;
  const hi = t[Math.min(10, i + 1)] ?? lo;
  return lo + (hi - lo) * (x - i);
};
const per = Math.ceil(traces.length / 4);
const vmMips = traces.map((_, i) => MIPS[Math.floor(i / per)] ?? 500);
const demand = (v: number, t: number) => ((traces[v] as number[])[Math.min(t, 287)] ?? 0) * (vmMips[v] ?? 0);

function ffdHosts(t: number): { hosts: number; energyJ: number } {
  const items = traces.map((_, v) => demand(v, t)).sort((a, b) => b - a);
  // Bigger hosts first (they are more efficient per MHz); first fit.
  const order = Array.from({ length: HOSTS }, (_, h) => h).sort((a, b) => cap(b) - cap(a) || a - b);
  const load = new Float64Array(HOSTS);
  for (const d of items) {
    const h = order.find((x) => (load[x] ?? 0) + d <= cap(x));
    if (h !== undefined) load[h] = (load[h] ?? 0) + d;
  }
  let hosts = 0;
  let e = 0;
  for (let h = 0; h < HOSTS; h++) {
    if ((load[h] ?? 0) <= 0) continue;
    hosts++;
    e += power(h, (load[h] ?? 0) / cap(h)) * 300;
  }
  return { hosts, energyJ: e };
}

function run(label: string, args: object, config: ClusterConfigInput) {
  // Initial placement: first fit decreasing of the first sample under the band, others standby.
  const high = (args as { band?: { high?: number } }).band?.high ?? 0.8;
  const load = new Float64Array(HOSTS);
  const order = traces.map((_, v) => v).sort((a, b) => demand(b, 0) - demand(a, 0) || a - b);
  const where = new Array<number>(traces.length);
  for (const v of order) {
    let h = 0;
    while (h < HOSTS - 1 && (load[h] ?? 0) + demand(v, 0) > cap(h) * high) h++;
    load[h] = (load[h] ?? 0) + demand(v, 0);
    where[v] = h;
  }
  let hosts: Host[] = Array.from({ length: HOSTS }, (_, h) => ({
    id: `h${h}`,
    state: (load[h] ?? 0) > 0 ? "healthy" : "standby",
    cpuCores: 2,
    cpuCapacityMhz: cap(h),
    memoryMiB: 4096,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 300_000 },
  }));
  let vms: Vm[] = traces.map((_, v) => ({
    id: `v${v}`,
    hostId: `h${where[v]}`,
    vcpus: 1,
    memoryMiB: RAM[Math.floor(v / per)] ?? 613,
    cpuDemandMhzHistory: [demand(v, 0)],
  }));
  let migrations = 0;
  let energy = 0;
  let oracle = 0;
  let overloaded = 0;
  let activeIntervals = 0;
  let oracleHosts = 0;
  let wakes = 0;
  let offs = 0;
  let relief = 0;
  const times: number[] = [];
  for (let t = 0; t < 288; t++) {
    hosts = hosts.map((h) => (h.state === "waking" ? { ...h, state: "healthy" } : h));
    vms = vms.map((vm, v) => ({
      ...vm,
      cpuDemandMhzHistory: (traces[v] as number[]).slice(Math.max(0, t - 11), t + 1).map((u) => u * (vmMips[v] ?? 0)),
    }));
    const snap: ClusterSnapshot = { hosts, vms, config };
    const t0 = performance.now();
    const p = plan(snap, "consolidate", { nowMs: t * 300_000, args, unlimited: true });
    times.push(performance.now() - t0);
    migrations += p.steps.filter((s) => s.kind === "migrate").length;
    wakes += p.steps.filter((s) => s.kind === "wake").length;
    offs += p.steps.filter((s) => s.kind === "power-off").length;
    relief += p.steps.filter((s) => s.code === "consolidate.relieve-overload").length;
    const next = applyPlan(snap, p);
    hosts = next.hosts.slice();
    vms = next.vms.slice();
    // The interval that follows runs on the next sample.
    const l = new Float64Array(HOSTS);
    for (const [v, vm] of vms.entries()) l[Number(vm.hostId.slice(1))] = (l[Number(vm.hostId.slice(1))] ?? 0) + demand(v, t + 1);
    for (let h = 0; h < HOSTS; h++) {
      const st = hosts[h]?.state;
      if (st === "standby") continue;
      activeIntervals++;
      if ((l[h] ?? 0) > cap(h)) overloaded++;
      energy += power(h, (l[h] ?? 0) / cap(h)) * 300;
    }
    const o = ffdHosts(t + 1);
    oracle += o.energyJ;
    oracleHosts += o.hosts;
  }
  const kwh = (j: number) => j / 3.6e6;
  const sorted = [...times].sort((a, b) => a - b);
  return [
    label,
    kwh(energy).toFixed(1),
    kwh(oracle).toFixed(1),
    `${((energy / oracle - 1) * 100).toFixed(1)}%`,
    String(migrations),
    `${((overloaded / activeIntervals) * 100).toFixed(2)}%`,
    (sorted[144] ?? 0).toFixed(1),
    (activeIntervals / 288).toFixed(0),
    (oracleHosts / 288).toFixed(0),
    `${wakes}/${offs}/${relief}`,
  ];
}

const base: ClusterConfigInput = { capacity: { enforceMemory }, cooldown: { vmMs: 0, returnMs: 3_600_000 } };
const variants: [string, object, ClusterConfigInput][] =
  process.env.REPLAY_VARIANTS === "explore"
    ? [
        ["host max6+trend, 0.6-1.0 t0.9", { band: { low: 0.6, high: 1.0, target: 0.9 } }, { ...base, forecast: { aggregate: "host" } }],
        [
          "host max3, 0.6-1.0 t0.9",
          { band: { low: 0.6, high: 1.0, target: 0.9 } },
          { ...base, forecast: { aggregate: "host", statistic: "max", windowSamples: 3, trend: false } },
        ],
        [
          "host p90/12, 0.7-1.0 t0.95",
          { band: { low: 0.7, high: 1.0, target: 0.95 } },
          { ...base, forecast: { aggregate: "host", statistic: "percentile", percentile: 0.9, windowSamples: 12, trend: false } },
        ],
        [
          "host mean3+trend, 0.7-1.0 t0.9",
          { band: { low: 0.7, high: 1.0, target: 0.9 } },
          { ...base, forecast: { aggregate: "host", statistic: "mean", windowSamples: 3, trend: true } },
        ],
      ]
    : [
        ["band 0.3-0.8, max6+trend", { band: { low: 0.3, high: 0.8 } }, base],
        ["band 0.6-1.0, max6+trend", { band: { low: 0.6, high: 1.0 } }, base],
        [
          "band 0.6-0.95, p90 of 12",
          { band: { low: 0.6, high: 0.95 } },
          { ...base, forecast: { statistic: "percentile", percentile: 0.9, windowSamples: 12, trend: false } },
        ],
        ["band 0.6-0.9, last", { band: { low: 0.6, high: 0.9 } }, { ...base, forecast: { statistic: "last", trend: false } }],
      ];
const header = [
  "variant",
  "energy kWh",
  "FFD kWh",
  "vs FFD",
  "migrations",
  "overload",
  "p50 ms",
  "active",
  "FFD active",
  "wake/off/relief",
];
const rows = variants.map(([l, a, c]) => run(l, a, c));
const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
process.stdout.write(
  `consolidate replay, PlanetLab ${day}, ${traces.length} VMs on ${HOSTS} hosts, memory ${enforceMemory ? "enforced" : "ignored"}\n`,
);
for (const r of [header, ...rows]) process.stdout.write(`${r.map((c, i) => c.padStart(w[i] ?? 0)).join("  ")}\n`);
