// An independent checker of the safety invariants for a plan against its snapshot. It shares no
// placement code with the policies (only the forecast and config parsing), so tests, the
// simulator and the scheduler can use it as a guard.

import { parseClusterConfig } from "./config.js";
import { forecastSeries } from "./forecast.js";
import type { ClusterSnapshot, Host, Plan, Rule, Vm } from "./types.js";

export const ViolationCode = {
  unknownRef: "invariant.unknown-reference",
  wrongSource: "invariant.wrong-source",
  movedTwice: "invariant.vm-moved-twice",
  pinned: "invariant.pinned-moved",
  inFlight: "invariant.in-flight-moved",
  badSource: "invariant.source-excluded",
  badDestination: "invariant.destination-excluded",
  cpu: "invariant.cpu-capacity",
  memory: "invariant.memory-capacity",
  vcpu: "invariant.vcpu-capacity",
  antiAffinity: "invariant.hard-anti-affinity",
  affinity: "invariant.hard-affinity",
  vmHost: "invariant.vm-host-rule",
  failureCooldown: "invariant.failure-cooldown",
  powerOffNotEmpty: "invariant.power-off-not-empty",
  powerOffNotAllowed: "invariant.power-off-not-allowed",
  powerOffLastRuleHost: "invariant.power-off-last-rule-host",
  powerOffSpare: "invariant.power-off-spare",
  wakeNotAllowed: "invariant.wake-not-allowed",
  limits: "invariant.in-flight-limits",
  missingDependency: "invariant.missing-dependency",
} as const;

export interface Violation {
  readonly code: string;
  readonly message: string;
  readonly stepIndex?: number;
}

const EPS = 1e-6;

/** Check every safety invariant a plan must hold. Empty array = the plan is safe. */
export function validatePlan(snapshot: ClusterSnapshot, plan: Pick<Plan, "steps" | "nowMs">): Violation[] {
  const cfg = parseClusterConfig(snapshot.config);
  const out: Violation[] = [];
  const hosts = new Map<string, Host>(snapshot.hosts.map((h) => [h.id, h]));
  const vms = new Map<string, Vm>(snapshot.vms.map((v) => [v.id, v]));
  const where = new Map<string, string>(snapshot.vms.map((v) => [v.id, v.hostId]));
  const demand = new Map<string, number>(snapshot.vms.map((v) => [v.id, forecastSeries(v.cpuDemandMhzHistory, cfg.forecast)]));
  const state = new Map<string, Host["state"]>(snapshot.hosts.map((h) => [h.id, h.state]));
  const load = new Map<string, { cpu: number; mem: number; vcpu: number }>(snapshot.hosts.map((h) => [h.id, { cpu: 0, mem: 0, vcpu: 0 }]));
  const add = (hostId: string, vm: Vm, sign: number) => {
    const l = load.get(hostId);
    if (l === undefined) return;
    l.cpu += sign * (demand.get(vm.id) ?? 0);
    l.mem += sign * vm.memoryMiB;
    l.vcpu += sign * vm.vcpus;
  };
  for (const v of snapshot.vms) add(v.hostId, v, 1);
  // forecast.aggregate = "host": a host's CPU load is the forecast of the sum of its VMs' windows.
  const agg = cfg.forecast.aggregate === "host";
  const W = cfg.forecast.windowSamples;
  const series = new Map<string, Float64Array>();
  const vmWin = new Map<string, Float64Array>();
  if (agg) {
    for (const h of snapshot.hosts) series.set(h.id, new Float64Array(W));
    for (const v of snapshot.vms) {
      const w = new Float64Array(W);
      const hist = v.cpuDemandMhzHistory;
      for (let i = 0; i < W; i++) w[i] = hist[hist.length - W + i] ?? hist[0] ?? 0;
      vmWin.set(v.id, w);
    }
  }
  const addSeries = (hostId: string, vmId: string, sign: number) => {
    const s = series.get(hostId);
    const w = vmWin.get(vmId);
    if (s === undefined || w === undefined) return;
    for (let i = 0; i < W; i++) s[i] = (s[i] ?? 0) + sign * (w[i] ?? 0);
  };
  /** CPU load of a host plus extra VMs, by the configured aggregation. */
  const cpuWith = (hostId: string, extra: readonly Vm[]): number => {
    if (!agg) return (load.get(hostId)?.cpu ?? 0) + extra.reduce((a, v) => a + (demand.get(v.id) ?? 0), 0);
    const x = Float64Array.from(series.get(hostId) ?? new Float64Array(W));
    for (const v of extra) {
      const w = vmWin.get(v.id);
      if (w !== undefined) for (let i = 0; i < W; i++) x[i] = (x[i] ?? 0) + (w[i] ?? 0);
    }
    return forecastSeries(x, cfg.forecast);
  };
  if (agg) for (const v of snapshot.vms) addSeries(v.hostId, v.id, 1);
  const inFlightVm = new Set<string>();
  const inFlightTouch = new Set<string>();
  const inFlightDest = new Map<string, string>();
  for (const f of snapshot.inFlight ?? []) {
    inFlightVm.add(f.vmId);
    inFlightTouch.add(f.sourceHostId).add(f.destinationHostId);
    inFlightDest.set(f.vmId, f.destinationHostId);
    const vm = vms.get(f.vmId);
    if (vm !== undefined && vm.hostId !== f.destinationHostId) {
      add(f.destinationHostId, vm, 1);
      addSeries(f.destinationHostId, vm.id, 1);
    }
  }
  if (agg) for (const [id, l] of load) l.cpu = cpuWith(id, []);
  const failures = snapshot.recentFailures ?? [];
  const rules: readonly Rule[] = snapshot.rules ?? [];
  const cap = (h: Host) => ({
    cpu: cfg.capacity.enforceCpu ? h.cpuCapacityMhz * (1 - cfg.capacity.cpuHeadroom) : Infinity,
    mem: cfg.capacity.enforceMemory ? h.memoryMiB * cfg.capacity.memoryOvercommit * (1 - cfg.capacity.memoryHeadroom) : Infinity,
    vcpu: cfg.capacity.vcpuOvercommit === null ? Infinity : h.cpuCores * cfg.capacity.vcpuOvercommit,
  });
  const moved = new Set<string>();
  /** Migrate steps seen so far: index → (vm, source, destination). */
  const departures: { index: number; vm: Vm; source: string }[] = [];
  const counts = { src: new Map<string, number>(), dst: new Map<string, number>(), all: 0 };
  for (const f of snapshot.inFlight ?? []) {
    counts.src.set(f.sourceHostId, (counts.src.get(f.sourceHostId) ?? 0) + 1);
    counts.dst.set(f.destinationHostId, (counts.dst.get(f.destinationHostId) ?? 0) + 1);
    counts.all++;
  }
  const affinityHostsBefore = rules.filter((r) => r.kind === "vm-affinity" && r.hard).map((r) => distinctHosts(r, where));

  for (const step of plan.steps) {
    const bad = (code: string, message: string) => out.push({ code, message, stepIndex: step.index });
    if (step.kind !== "migrate") {
      const h = hosts.get(step.hostId);
      if (h === undefined) {
        bad(ViolationCode.unknownRef, `unknown host ${step.hostId}`);
        continue;
      }
      if (step.kind === "wake") {
        if (state.get(h.id) !== "standby" || !h.power.canWake)
          bad(ViolationCode.wakeNotAllowed, `${h.id} is ${state.get(h.id)} / canWake=${h.power.canWake}`);
        else state.set(h.id, "waking");
        continue;
      }
      const st = state.get(h.id);
      if (!h.power.canPowerOff || st === "unreachable" || st === "standby" || st === "waking")
        bad(ViolationCode.powerOffNotAllowed, `${h.id} (${st}) may not be powered off`);
      const running = [...where.entries()].filter(([, host]) => host === h.id).map(([vm]) => vm);
      if (running.length > 0 || inFlightTouch.has(h.id))
        bad(ViolationCode.powerOffNotEmpty, `${h.id} still has ${running.join(", ") || "an in-flight migration"}`);
      for (const d of departures)
        if (d.source === h.id && !step.dependsOn.includes(d.index))
          bad(ViolationCode.missingDependency, `power-off of ${h.id} does not wait for step ${d.index}`);
      for (const r of rules) {
        if (r.kind !== "vm-host" || (r.mode !== "must" && r.mode !== "should") || !r.hostIds.includes(h.id)) continue;
        const others = r.hostIds.filter((x) => x !== h.id && state.get(x) === "healthy");
        if (others.length === 0) bad(ViolationCode.powerOffLastRuleHost, `${h.id} is the last healthy host of rule ${r.id}`);
      }
      state.set(h.id, "standby");
      const spare = spareShortfall(snapshot.hosts, state, load, cfg);
      if (spare !== null) bad(ViolationCode.powerOffSpare, `without ${h.id}: ${spare}`);
      continue;
    }
    const vm = vms.get(step.vmId);
    const src = hosts.get(step.sourceHostId);
    const dst = hosts.get(step.destinationHostId);
    if (vm === undefined || src === undefined || dst === undefined) {
      bad(ViolationCode.unknownRef, `step names an unknown VM or host`);
      continue;
    }
    if (where.get(vm.id) !== src.id) bad(ViolationCode.wrongSource, `${vm.id} is on ${where.get(vm.id)}, not ${src.id}`);
    if (moved.has(vm.id)) bad(ViolationCode.movedTwice, `${vm.id} moves twice in one plan`);
    if (vm.pinned === true) bad(ViolationCode.pinned, `${vm.id} is pinned`);
    if (inFlightVm.has(vm.id)) bad(ViolationCode.inFlight, `${vm.id} is already migrating`);
    const ss = state.get(src.id);
    if (ss === "unreachable" || ss === "standby" || ss === "waking") bad(ViolationCode.badSource, `${src.id} is ${ss}`);
    if (state.get(dst.id) !== "healthy") bad(ViolationCode.badDestination, `${dst.id} is ${state.get(dst.id)}`);
    for (const f of failures) {
      if (f.vmId === vm.id && f.destinationHostId === dst.id && plan.nowMs - f.atMs < cfg.cooldown.failureMs)
        bad(ViolationCode.failureCooldown, `${vm.id} failed to reach ${dst.id} at ${f.atMs}`);
    }
    // Capacity at the destination: departures it does not wait for may not have happened yet.
    const l = load.get(dst.id) as { cpu: number; mem: number; vcpu: number };
    const pending = { mem: 0, vcpu: 0, vms: [] as Vm[] };
    for (const d of departures) {
      if (d.source !== dst.id || step.dependsOn.includes(d.index)) continue;
      pending.vms.push(d.vm);
      pending.mem += d.vm.memoryMiB;
      pending.vcpu += d.vm.vcpus;
    }
    const c = cap(dst);
    const after = {
      cpu: cpuWith(dst.id, [...pending.vms, vm]),
      mem: l.mem + pending.mem + vm.memoryMiB,
      vcpu: l.vcpu + pending.vcpu + vm.vcpus,
    };
    if (after.cpu > c.cpu + EPS) bad(ViolationCode.cpu, `${dst.id} CPU ${after.cpu.toFixed(1)} > ${c.cpu.toFixed(1)} MHz`);
    if (after.mem > c.mem + EPS) bad(ViolationCode.memory, `${dst.id} memory ${after.mem} > ${c.mem} MiB`);
    if (after.vcpu > c.vcpu + EPS) bad(ViolationCode.vcpu, `${dst.id} vCPUs ${after.vcpu} > ${c.vcpu}`);
    for (const r of rules) {
      if (!r.vmIds.includes(vm.id)) continue;
      if (r.kind === "vm-anti-affinity" && r.hard) {
        const clash = r.vmIds.filter((o) => o !== vm.id && (where.get(o) === dst.id || inFlightDest.get(o) === dst.id));
        if (clash.length > 0) bad(ViolationCode.antiAffinity, `${vm.id} joins ${clash.join(", ")} on ${dst.id} (rule ${r.id})`);
      }
      if (r.kind === "vm-host" && r.mode === "must" && !r.hostIds.includes(dst.id))
        bad(ViolationCode.vmHost, `${vm.id} must stay on ${r.hostIds.join(", ")} (rule ${r.id})`);
      if (r.kind === "vm-host" && r.mode === "must-not" && r.hostIds.includes(dst.id))
        bad(ViolationCode.vmHost, `${vm.id} must not run on ${dst.id} (rule ${r.id})`);
    }
    add(src.id, vm, -1);
    add(dst.id, vm, 1);
    if (agg) {
      addSeries(src.id, vm.id, -1);
      addSeries(dst.id, vm.id, 1);
      (load.get(src.id) as { cpu: number }).cpu = cpuWith(src.id, []);
      (load.get(dst.id) as { cpu: number }).cpu = cpuWith(dst.id, []);
    }
    where.set(vm.id, dst.id);
    moved.add(vm.id);
    departures.push({ index: step.index, vm, source: src.id });
    const cs = (counts.src.get(src.id) ?? 0) + 1;
    const cd = (counts.dst.get(dst.id) ?? 0) + 1;
    counts.src.set(src.id, cs);
    counts.dst.set(dst.id, cd);
    counts.all++;
    if (cs > cfg.limits.perSource || cd > cfg.limits.perDestination || counts.all > cfg.limits.perCluster) {
      bad(ViolationCode.limits, `limits exceeded: ${src.id} sends ${cs}, ${dst.id} receives ${cd}, cluster ${counts.all}`);
    }
  }
  rules
    .filter((r) => r.kind === "vm-affinity" && r.hard)
    .forEach((r, i) => {
      const after = distinctHosts(r, where);
      if (after > (affinityHostsBefore[i] ?? 0))
        out.push({ code: ViolationCode.affinity, message: `rule ${r.id} now spans ${after} hosts` });
    });
  return out;
}

function distinctHosts(r: Rule, where: ReadonlyMap<string, string>): number {
  return new Set(r.vmIds.map((id) => where.get(id)).filter((h) => h !== undefined)).size;
}

/** Null when the powered healthy hosts keep the configured spare capacity, else why not. */
function spareShortfall(
  hosts: readonly Host[],
  state: ReadonlyMap<string, Host["state"]>,
  load: ReadonlyMap<string, { cpu: number; mem: number }>,
  cfg: ReturnType<typeof parseClusterConfig>,
): string | null {
  let freeCpu = 0;
  let freeMem = 0;
  let total = 0;
  let maxCpu = 0;
  let maxMem = 0;
  for (const h of hosts) {
    const l = load.get(h.id) ?? { cpu: 0, mem: 0 };
    total += l.cpu;
    maxCpu = Math.max(maxCpu, h.cpuCapacityMhz * (1 - cfg.capacity.cpuHeadroom));
    maxMem = Math.max(maxMem, h.memoryMiB * cfg.capacity.memoryOvercommit * (1 - cfg.capacity.memoryHeadroom));
    if (state.get(h.id) !== "healthy") continue;
    freeCpu += Math.max(0, h.cpuCapacityMhz * (1 - cfg.capacity.cpuHeadroom) - l.cpu);
    freeMem += Math.max(0, h.memoryMiB * cfg.capacity.memoryOvercommit * (1 - cfg.capacity.memoryHeadroom) - l.mem);
  }
  const needCpu = cfg.spare.hosts * maxCpu + cfg.spare.cpuFraction * total;
  const needMem = cfg.capacity.enforceMemory ? cfg.spare.hosts * maxMem : 0;
  if (freeCpu + EPS < needCpu) return `free CPU ${freeCpu.toFixed(0)} MHz < spare ${needCpu.toFixed(0)} MHz`;
  if (freeMem + EPS < needMem) return `free memory ${freeMem.toFixed(0)} MiB < spare ${needMem.toFixed(0)} MiB`;
  return null;
}
