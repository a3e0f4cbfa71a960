// Random clusters for property tests: host states, capacities, power data, rules, in-flight
// migrations, recent failures and configs, all consistent (VMs only on hosts that are on).
import fc from "fast-check";
import type { ClusterConfigInput, ClusterSnapshot, Host, Rule, Vm } from "../src/index.js";

export const NOW = 1_800_000_000_000;
const STATES = [
  "healthy",
  "healthy",
  "healthy",
  "healthy",
  "healthy",
  "draining",
  "maintenance",
  "standby",
  "waking",
  "unreachable",
] as const;

const hostArb = fc.record({
  state: fc.constantFrom(...STATES),
  cpuCores: fc.integer({ min: 2, max: 16 }),
  cpuCapacityMhz: fc.integer({ min: 2000, max: 16_000 }),
  memoryMiB: fc.integer({ min: 2048, max: 32_768 }),
  canPowerOff: fc.boolean(),
  canWake: fc.boolean(),
  wakeLatencyMs: fc.integer({ min: 0, max: 1_200_000 }),
  bridges: fc.constantFrom(undefined, ["br0"], ["br0", "br1"]),
  measured: fc.boolean(),
  // Optional power data: idle and the extra watts at full load (consolidate's efficiency ranking).
  watts: fc.option(fc.record({ idleW: fc.integer({ min: 40, max: 200 }), extraW: fc.integer({ min: 0, max: 300 }) }), { nil: undefined }),
});

const vmArb = fc.record({
  host: fc.nat(),
  vcpus: fc.integer({ min: 1, max: 4 }),
  memoryMiB: fc.integer({ min: 256, max: 8192 }),
  history: fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 1, maxLength: 8 }),
  dirty: fc.option(fc.integer({ min: 0, max: 200_000_000 }), { nil: undefined }),
  pinned: fc.integer({ min: 0, max: 9 }).map((x) => x < 2),
  migratedAgoMs: fc.option(fc.integer({ min: 0, max: 7_200_000 }), { nil: undefined }),
  previous: fc.nat(),
  bridges: fc.constantFrom(undefined, undefined, ["br0"], ["br1"]),
});

const ruleArb = fc.record({
  kind: fc.constantFrom("vm-affinity", "vm-anti-affinity", "vm-host"),
  vms: fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3 }),
  hosts: fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3 }),
  hard: fc.boolean(),
  mode: fc.constantFrom("must", "should", "must-not", "should-not"),
});

const configArb: fc.Arbitrary<ClusterConfigInput> = fc.record({
  capacity: fc.record({
    enforceMemory: fc.boolean(),
    cpuHeadroom: fc.constantFrom(0, 0.1, 0.3),
    memoryOvercommit: fc.constantFrom(1, 1.5),
    vcpuOvercommit: fc.constantFrom(null, 1, 4),
    enforceCoreSpeed: fc.boolean(),
  }),
  forecast: fc.record({
    statistic: fc.constantFrom("last", "mean", "max", "percentile"),
    trend: fc.boolean(),
    windowSamples: fc.integer({ min: 1, max: 8 }),
    aggregate: fc.constantFrom("vm", "host"),
  }),
  cooldown: fc.record({
    vmMs: fc.constantFrom(0, 900_000),
    failureMs: fc.constantFrom(0, 1_800_000),
    returnMs: fc.constantFrom(600_000, 3_600_000),
  }),
  limits: fc.record({
    perSource: fc.integer({ min: 1, max: 3 }),
    perDestination: fc.integer({ min: 1, max: 3 }),
    perCluster: fc.integer({ min: 1, max: 8 }),
  }),
  spare: fc.record({ hosts: fc.integer({ min: 0, max: 2 }), cpuFraction: fc.constantFrom(0, 0.2, 0.5) }),
  migration: fc.record({ allowAutoConverge: fc.boolean(), allowPauseAndCopy: fc.boolean() }),
});

export const clusterArb: fc.Arbitrary<ClusterSnapshot> = fc
  .record({
    hosts: fc.array(hostArb, { minLength: 1, maxLength: 8 }),
    vms: fc.array(vmArb, { maxLength: 24 }),
    rules: fc.array(ruleArb, { maxLength: 4 }),
    inFlight: fc.array(fc.record({ vm: fc.nat(), dst: fc.nat() }), { maxLength: 2 }),
    failures: fc.array(fc.record({ vm: fc.nat(), dst: fc.nat(), agoMs: fc.integer({ min: 0, max: 3_600_000 }) }), { maxLength: 3 }),
    config: configArb,
  })
  .map(({ hosts: hs, vms: vs, rules: rs, inFlight, failures, config }) => {
    const hosts: Host[] = hs.map((h, i) => ({
      id: `h${i}`,
      state: h.state,
      cpuCores: h.cpuCores,
      cpuCapacityMhz: h.cpuCapacityMhz,
      memoryMiB: h.memoryMiB,
      power: {
        canPowerOff: h.canPowerOff,
        canWake: h.canWake,
        wakeLatencyMs: h.wakeLatencyMs,
        ...(h.watts === undefined ? {} : { idleW: h.watts.idleW, maxW: h.watts.idleW + h.watts.extraW }),
      },
      ...(h.bridges === undefined ? {} : { bridges: h.bridges }),
    }));
    // VMs only run on hosts that are on.
    const on = hosts.filter((h) => h.state !== "standby" && h.state !== "waking");
    const vms: Vm[] =
      on.length === 0
        ? []
        : vs.map((v, i) => {
            const host = on[v.host % on.length] as Host;
            return {
              id: `v${i}`,
              hostId: host.id,
              vcpus: v.vcpus,
              memoryMiB: v.memoryMiB,
              cpuDemandMhzHistory: v.history,
              ...(v.dirty === undefined ? {} : { dirtyRateBytesPerSec: v.dirty }),
              ...(v.pinned ? { pinned: true } : {}),
              ...(v.migratedAgoMs === undefined
                ? {}
                : { lastMigrationMs: NOW - v.migratedAgoMs, previousHostId: `h${v.previous % hosts.length}` }),
              ...(v.bridges === undefined ? {} : { bridges: v.bridges }),
            };
          });
    // Measured host histories = sum of their VMs' (when the generator asked for them).
    const withHist = hosts.map((h, i) => {
      if (!hs[i]?.measured) return h;
      const mine = vms.filter((v) => v.hostId === h.id);
      const len = Math.max(1, ...mine.map((v) => v.cpuDemandMhzHistory.length));
      const hist = Array.from({ length: len }, (_, k) =>
        mine.reduce((a, v) => a + (v.cpuDemandMhzHistory[v.cpuDemandMhzHistory.length - len + k] ?? 0), 0),
      );
      return { ...h, cpuUsageMhzHistory: hist };
    });
    const rules: Rule[] =
      vms.length === 0
        ? []
        : rs.map((r, i): Rule => {
            const vmIds = [...new Set(r.vms.map((x) => `v${x % vms.length}`))];
            if (r.kind === "vm-host")
              return {
                id: `r${i}`,
                kind: "vm-host",
                vmIds,
                hostIds: [...new Set(r.hosts.map((x) => `h${x % hosts.length}`))],
                mode: r.mode,
              };
            return { id: `r${i}`, kind: r.kind, vmIds, hard: r.hard };
          });
    const healthy = hosts.filter((h) => h.state === "healthy");
    const flights =
      vms.length === 0 || healthy.length === 0
        ? []
        : inFlight
            .map((f, i) => {
              const vm = vms[f.vm % vms.length] as Vm;
              const dst = healthy[f.dst % healthy.length] as Host;
              return { id: `m${i}`, vmId: vm.id, sourceHostId: vm.hostId, destinationHostId: dst.id, startedMs: NOW - 5000 };
            })
            .filter((f, i, all) => f.sourceHostId !== f.destinationHostId && all.findIndex((g) => g.vmId === f.vmId) === i);
    const recentFailures =
      vms.length === 0
        ? []
        : failures.map((f) => ({ vmId: `v${f.vm % vms.length}`, destinationHostId: `h${f.dst % hosts.length}`, atMs: NOW - f.agoMs }));
    return { hosts: withHist, vms, rules, inFlight: flights, recentFailures, config };
  });
