// Placement rules: may these VMs go to that host? One predicate per rule, each returning null when
// the rule allows the move or the reject code that names it. `ClusterModel.check` composes them in
// a fixed order (the first refusal is the reason a plan reports, so the order is part of the plan)
// and `ClusterModel.softPenalty` counts the soft rules a move breaks. A unit is a VM and the
// hard-affinity partners on its host that move with it; all its VMs are on one host.

import { olderHypervisor } from "@drover/protocol";
import type { ClusterConfig } from "./config.js";
import { RejectCode } from "./codes.js";
import type { Host, Rule, Vm, VmAffinityRule, VmAntiAffinityRule, VmHostRule } from "./types.js";

/** What the predicates read of the planning model (`ClusterModel` is one). */
export interface PlacementView {
  readonly cfg: ClusterConfig;
  readonly nowMs: number;
  /** forecast.aggregate = "host": a host's CPU load is a forecast of summed histories, not a sum. */
  readonly aggregate: boolean;
  readonly vms: readonly Vm[];
  readonly vmIndex: ReadonlyMap<string, number>;
  readonly vmHost: Int32Array;
  /** Forecast CPU demand per VM, MHz. */
  readonly vmCpu: Float64Array;
  readonly cpuCap: Float64Array;
  readonly memCap: Float64Array;
  readonly vcpuCap: Float64Array;
  readonly cpuLoad: Float64Array;
  readonly memLoad: Float64Array;
  readonly vcpuLoad: Float64Array;
  hostId(h: number): string;
  /** The host's forecast CPU load with the unit added (aggregated forecasts). */
  loadWith(unit: readonly number[], h: number): number;
  /** When the VM last failed to migrate to the host, if it did. */
  failedAt(vmId: string, hostId: string): number | undefined;
  /** Where the VM is migrating to right now, if it is. */
  inFlightTo(v: number): number | undefined;
}

const EPS = 1e-9;

// ---------------------------------------------------------------------------------------------
// Compatibility of one VM with the destination host.

/** The VM needs a CPU model the host does not offer. */
export function cpuModelRejects(vm: Vm, host: Host): RejectCode | null {
  return vm.cpuModel !== undefined && host.cpuModels !== undefined && !host.cpuModels.includes(vm.cpuModel) ? RejectCode.cpuModel : null;
}

/** The host runs an older libvirt or QEMU than the VM's host (both known). */
export function olderHypervisorRejects(from: Host, host: Host): RejectCode | null {
  return from.hypervisor !== undefined &&
    host.hypervisor !== undefined &&
    olderHypervisor({ host: from.id, versions: from.hypervisor }, { host: host.id, versions: host.hypervisor }) !== null
    ? RejectCode.olderHypervisor
    : null;
}

/** With `capacity.enforceCoreSpeed`: the VM's forecast MHz per vCPU exceeds the host's core MHz. */
export function coreSpeedRejects(m: PlacementView, v: number, host: Host): RejectCode | null {
  const vm = m.vms[v] as Vm;
  return m.cfg.capacity.enforceCoreSpeed && (m.vmCpu[v] ?? 0) / Math.max(1, vm.vcpus) > host.cpuCapacityMhz / host.cpuCores + EPS
    ? RejectCode.coreSpeed
    : null;
}

/** A shared storage the VM's disks live on is not mounted on the host. */
export function storageRejects(vm: Vm, host: Host): RejectCode | null {
  return vm.storage !== undefined && !allOffered(vm.storage, host.sharedStorage) ? RejectCode.storage : null;
}

/** A bridge the VM's interfaces use is missing on the host. */
export function bridgeRejects(vm: Vm, host: Host): RejectCode | null {
  return vm.bridges !== undefined && !allOffered(vm.bridges, host.bridges) ? RejectCode.bridge : null;
}

/**
 * Every name the VM needs is among those the host offers (none needed: true). A loop, not
 * `every` with a callback: placement checks run millions of times in a big plan, and each
 * callback was an allocation.
 */
function allOffered(needed: readonly string[], offered: readonly string[] | undefined): boolean {
  for (let i = 0; i < needed.length; i++) if (offered?.includes(needed[i] as string) !== true) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Capacity of the destination with the whole unit added.

/**
 * Forecast CPU over the host's capacity (less headroom), or over `cpuFraction` of it when that is
 * lower (a consolidation band: then the code says the band refused, not the capacity).
 */
export function cpuCapacityRejects(
  m: PlacementView,
  unit: readonly number[],
  dst: number,
  host: Host,
  cpuFraction: number | undefined,
): RejectCode | null {
  let cpu = 0;
  for (const v of unit) cpu += m.vmCpu[v] ?? 0;
  let cpuLimit = m.cpuCap[dst] ?? 0;
  if (cpuFraction !== undefined) cpuLimit = Math.min(cpuLimit, host.cpuCapacityMhz * cpuFraction);
  if ((m.aggregate ? m.loadWith(unit, dst) : (m.cpuLoad[dst] ?? 0) + cpu) > cpuLimit + EPS)
    return cpuFraction !== undefined && cpuLimit < (m.cpuCap[dst] ?? 0) ? RejectCode.band : RejectCode.cpuCapacity;
  return null;
}

/** Allocated memory over the host's (overcommitted, headroom-reduced) memory. */
export function memoryCapacityRejects(m: PlacementView, unit: readonly number[], dst: number): RejectCode | null {
  let mem = 0;
  for (const v of unit) mem += (m.vms[v] as Vm).memoryMiB;
  return (m.memLoad[dst] ?? 0) + mem > (m.memCap[dst] ?? 0) + EPS ? RejectCode.memoryCapacity : null;
}

/** vCPUs over the host's cores × `capacity.vcpuOvercommit`. */
export function vcpuCapacityRejects(m: PlacementView, unit: readonly number[], dst: number): RejectCode | null {
  let vcpu = 0;
  for (const v of unit) vcpu += (m.vms[v] as Vm).vcpus;
  return (m.vcpuLoad[dst] ?? 0) + vcpu > (m.vcpuCap[dst] ?? 0) + EPS ? RejectCode.vcpuCapacity : null;
}

// ---------------------------------------------------------------------------------------------
// History of one VM.

/** The VM failed to migrate to this host within `cooldown.failureMs`. */
export function failureCooldownRejects(m: PlacementView, vm: Vm, host: Host): RejectCode | null {
  const failedAt = m.failedAt(vm.id, host.id);
  return failedAt !== undefined && m.nowMs - failedAt < m.cfg.cooldown.failureMs ? RejectCode.failureCooldown : null;
}

/** The VM left this host within `cooldown.returnMs` (no ping-pong); an operator request (`forced`) may. */
export function returnCooldownRejects(m: PlacementView, vm: Vm, host: Host, forced: boolean): RejectCode | null {
  return !forced &&
    vm.previousHostId === host.id &&
    vm.lastMigrationMs !== undefined &&
    m.nowMs - vm.lastMigrationMs < m.cfg.cooldown.returnMs
    ? RejectCode.returnCooldown
    : null;
}

// ---------------------------------------------------------------------------------------------
// Rules (snapshot.rules), for VM `v` of the unit going to `dst`.

/** A hard rule must hold; a soft one only costs a penalty (or is enforced with `strictSoft`). */
export function isHardRule(rule: Rule): boolean {
  return rule.kind === "vm-host" ? rule.mode === "must" || rule.mode === "must-not" : rule.hard;
}

/**
 * Another VM of the group runs on, is migrating to, or moves with the unit to `dst`. A unit holding
 * two VMs of the group (bound together by a hard affinity rule that contradicts this one) never
 * moves: wherever it goes, the two arrive together.
 */
export function antiAffinityRejects(
  m: PlacementView,
  rule: VmAntiAffinityRule,
  v: number,
  unit: readonly number[],
  dst: number,
): RejectCode | null {
  for (const id of rule.vmIds) {
    const o = m.vmIndex.get(id);
    if (o === undefined || o === v) continue;
    if (unit.includes(o) || m.vmHost[o] === dst || m.inFlightTo(o) === dst) return RejectCode.antiAffinity;
  }
  return null;
}

/** `dst` is outside the rule's hosts (must/should) or among them (must-not/should-not). */
export function vmHostRejects(rule: VmHostRule, dstId: string): RejectCode | null {
  const inSet = rule.hostIds.includes(dstId);
  if ((rule.mode === "must" || rule.mode === "should") && !inSet) return RejectCode.vmHostMust;
  if ((rule.mode === "must-not" || rule.mode === "should-not") && inSet) return RejectCode.vmHostMustNot;
  return null;
}

/**
 * Soft affinity: another VM of the group is not on `dst`. Hard affinity never refuses a host:
 * it is kept by moving the group as one unit.
 */
export function affinityRejects(
  m: PlacementView,
  rule: VmAffinityRule,
  v: number,
  unit: readonly number[],
  dst: number,
): RejectCode | null {
  if (rule.hard) return null;
  for (const id of rule.vmIds) {
    const o = m.vmIndex.get(id);
    if (o === undefined || o === v || unit.includes(o)) continue;
    if (m.vmHost[o] !== dst) return RejectCode.affinity;
  }
  return null;
}

/** The predicate of the rule's kind. */
export function ruleRejects(m: PlacementView, rule: Rule, v: number, unit: readonly number[], dst: number): RejectCode | null {
  switch (rule.kind) {
    case "vm-anti-affinity":
      return antiAffinityRejects(m, rule, v, unit, dst);
    case "vm-host":
      return vmHostRejects(rule, m.hostId(dst));
    case "vm-affinity":
      return affinityRejects(m, rule, v, unit, dst);
  }
}
