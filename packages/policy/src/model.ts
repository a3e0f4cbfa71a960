// The working model of one planning run: the snapshot indexed into flat arrays, with loads that
// policies update as they tentatively move VMs. Built once per plan in O(hosts + VMs × window).

import type { ClusterConfig } from "./config.js";
import { parseClusterConfig } from "./config.js";
import { predictMigration } from "./cost-model.js";
import { PolicyInputError } from "./errors.js";
import { forecastSeries, windowInto } from "./forecast.js";
import { RejectCode } from "./codes.js";
import {
  bridgeRejects,
  coreSpeedRejects,
  cpuCapacityRejects,
  cpuModelRejects,
  olderHypervisorRejects,
  failureCooldownRejects,
  isHardRule,
  memoryCapacityRejects,
  returnCooldownRejects,
  ruleRejects,
  storageRejects,
  vcpuCapacityRejects,
} from "./placement.js";
import type { ClusterSnapshot, DemandForecast, Host, MigrationPrediction, Rule, Vm } from "./types.js";

export interface Reject {
  readonly code: string;
  readonly ruleId?: string;
}

export interface PlacementOptions {
  /** Cap CPU at this fraction of the host's capacity (e.g. a consolidation band's upper bound). */
  readonly cpuFraction?: number;
  /** Treat soft rules as hard. */
  readonly strictSoft?: boolean;
  /** An operator request (drain): ignore the return-to-previous-host cool-down. */
  readonly forced?: boolean;
}

// Shared reject objects: placement checks run hundreds of thousands of times per plan.
const R = Object.fromEntries(Object.values(RejectCode).map((c) => [c, Object.freeze({ code: c })])) as Record<string, Reject>;
const reject = (code: string): Reject => R[code] ?? { code };

/** Snapshots whose VM ids are unique by construction (see `withUniqueVmIds`). */
const uniqueVmIds = new WeakSet<ClusterSnapshot>();

/**
 * Declares that the snapshot's VM ids are unique by construction (the scheduler's snapshot takes
 * them from the keys of its VM map), so a plan need not check it again: that check is a Set of
 * every id, half of building the model of 200,000 VMs. Only this very object is trusted; a copy of
 * it (applyPlan's, say) is checked as any other input. Returns the snapshot.
 */
export function withUniqueVmIds<T extends ClusterSnapshot>(snapshot: T): T {
  uniqueVmIds.add(snapshot);
  return snapshot;
}

export class ClusterModel {
  readonly cfg: ClusterConfig;
  /** The snapshot's seasonal forecast of the cluster's CPU demand, if any. */
  readonly demandForecast: DemandForecast | undefined;
  readonly nowMs: number;
  readonly hosts: readonly Host[];
  readonly vms: readonly Vm[];
  readonly rules: readonly Rule[];
  readonly hostIndex = new Map<string, number>();
  private vmIndexMap: Map<string, number> | undefined;

  readonly cpuCap: Float64Array;
  readonly memCap: Float64Array;
  readonly vcpuCap: Float64Array;
  /** Forecast CPU demand placed on the host (VMs + in-flight reservations), MHz. */
  readonly cpuLoad: Float64Array;
  /** Allocated memory placed on the host, MiB. */
  readonly memLoad: Float64Array;
  readonly vcpuLoad: Float64Array;
  /** Memory in use (for balance), MiB. */
  readonly memUse: Float64Array;
  /** Host contention (0..1) scaled with its CPU load as VMs move. */
  readonly contentionBase: Float64Array;
  readonly cpuLoadBase: Float64Array;
  readonly bandwidth: Float64Array;
  readonly destOk: Uint8Array;
  /** Powered on (not standby or waking); cleared when a plan powers the host off. */
  readonly on: Uint8Array;
  readonly hostVms: number[][];
  /** In-flight migrations touching each host (as source or destination). */
  readonly inFlightOut: Int32Array;
  readonly inFlightIn: Int32Array;

  readonly vmHost: Int32Array;
  readonly vmCpu: Float64Array;
  readonly vmMem: Float64Array;
  readonly vmMemUse: Float64Array;
  readonly vmInFlight: Uint8Array;
  readonly vmMoved: Uint8Array;
  /** Rule indices per VM (only VMs that have rules). */
  readonly vmRules = new Map<number, number[]>();
  /** Hard-affinity component id per VM (VMs without hard affinity are absent). */
  private readonly affinityComp = new Map<number, number[]>();
  private readonly failures = new Map<string, number>();
  private readonly failedVms = new Set<string>();
  private readonly predictions: (MigrationPrediction | null | undefined)[];
  /**
   * Predictions by their input: a fleet's VMs come in few shapes (same plan, one model run per
   * shape). Maps nested on the input's numbers, then post-copy no/yes: building a text key per VM
   * cost more than the lookups.
   */
  private readonly predictionsByInput = new Map<number, Map<number, Map<number, Map<number, (MigrationPrediction | null)[]>>>>();
  /** forecast.aggregate = "host": per-VM and per-host demand windows (W samples each). */
  readonly aggregate: boolean;
  private readonly W: number;
  private readonly vmSeries: Float64Array;
  private readonly hostSeries: Float64Array;
  private readonly scratch: Float64Array;
  private readonly frozen: ReadonlySet<string>;
  /**
   * Each host's libvirt and QEMU versions as a number (-1: not known), and the older-hypervisor
   * verdict per pair of those numbers: a cluster runs few versions, and comparing the version texts
   * on every placement check was a third of what a big plan allocated.
   */
  private readonly hypervisorOf: Int32Array;
  private readonly olderByPair = new Map<number, RejectCode | null>();

  constructor(snapshot: ClusterSnapshot, nowMs: number, options: { frozenVmIds?: ReadonlySet<string> } = {}) {
    if (!Number.isFinite(nowMs)) throw new PolicyInputError("nowMs", "must be a finite number of ms");
    this.cfg = parseClusterConfig(snapshot.config);
    this.nowMs = nowMs;
    this.hosts = snapshot.hosts;
    this.vms = snapshot.vms;
    this.rules = snapshot.rules ?? [];
    this.demandForecast = snapshot.demandForecast;
    this.frozen = options.frozenVmIds ?? new Set();
    const H = this.hosts.length;
    const V = this.vms.length;
    const cap = this.cfg.capacity;
    this.cpuCap = new Float64Array(H);
    this.memCap = new Float64Array(H);
    this.vcpuCap = new Float64Array(H);
    this.cpuLoad = new Float64Array(H);
    this.memLoad = new Float64Array(H);
    this.vcpuLoad = new Float64Array(H);
    this.memUse = new Float64Array(H);
    this.contentionBase = new Float64Array(H);
    this.cpuLoadBase = new Float64Array(H);
    this.bandwidth = new Float64Array(H);
    this.destOk = new Uint8Array(H);
    this.on = new Uint8Array(H);
    this.inFlightOut = new Int32Array(H);
    this.inFlightIn = new Int32Array(H);
    this.hypervisorOf = new Int32Array(H);
    const hypervisorIds = new Map<string, number>();
    this.hostVms = [];
    for (let h = 0; h < H; h++) {
      const host = this.hosts[h] as Host;
      if (typeof host.id !== "string" || host.id === "") throw new PolicyInputError(`hosts.${h}.id`, "must be a non-empty string");
      // One map operation per id (a has() then a set() is twice the hashing on 10,000s of ids).
      const hostsBefore = this.hostIndex.size;
      this.hostIndex.set(host.id, h);
      if (this.hostIndex.size === hostsBefore) throw new PolicyInputError(`hosts.${h}.id`, `duplicate host id "${host.id}"`);
      if (!(host.cpuCapacityMhz > 0)) throw new PolicyInputError(`hosts.${h}.cpuCapacityMhz`, `must be > 0 (host ${host.id})`);
      if (!(host.memoryMiB > 0)) throw new PolicyInputError(`hosts.${h}.memoryMiB`, `must be > 0 (host ${host.id})`);
      this.cpuCap[h] = cap.enforceCpu ? host.cpuCapacityMhz * (1 - cap.cpuHeadroom) : Infinity;
      this.memCap[h] = cap.enforceMemory ? host.memoryMiB * cap.memoryOvercommit * (1 - cap.memoryHeadroom) : Infinity;
      this.vcpuCap[h] = cap.vcpuOvercommit === null ? Infinity : host.cpuCores * cap.vcpuOvercommit;
      this.bandwidth[h] = host.migrationBandwidthBytesPerSec ?? this.cfg.migration.defaultBandwidthBytesPerSec;
      this.destOk[h] = host.state === "healthy" ? 1 : 0;
      this.on[h] = host.state === "standby" || host.state === "waking" ? 0 : 1;
      this.contentionBase[h] = host.contention ?? 0;
      this.hypervisorOf[h] =
        host.hypervisor === undefined ? -1 : idOf(hypervisorIds, `${host.hypervisor.libvirt}\u0000${host.hypervisor.qemu}`);
      this.hostVms.push([]);
    }
    this.vmHost = new Int32Array(V);
    this.vmCpu = new Float64Array(V);
    this.vmMem = new Float64Array(V);
    this.vmMemUse = new Float64Array(V);
    this.vmInFlight = new Uint8Array(V);
    this.vmMoved = new Uint8Array(V);
    this.predictions = new Array<MigrationPrediction | null | undefined>(V);
    const fc = this.cfg.forecast;
    this.aggregate = fc.aggregate === "host";
    this.W = fc.windowSamples;
    this.vmSeries = new Float64Array(this.aggregate ? V * this.W : 0);
    this.hostSeries = new Float64Array(this.aggregate ? H * this.W : 0);
    this.scratch = new Float64Array(this.W);
    const vmIds = uniqueVmIds.has(snapshot) ? null : new Set<string>();
    // A host's VMs mostly come one after another (the scheduler lists them so): the last host
    // found answers most lookups without hashing its id again.
    let lastHostId: string | undefined;
    let lastHost = -1;
    for (let v = 0; v < V; v++) {
      const vm = this.vms[v] as Vm;
      if (typeof vm.id !== "string" || vm.id === "") throw new PolicyInputError(`vms.${v}.id`, "must be a non-empty string");
      if (vmIds !== null) {
        // One set operation per id (a has() then an add() is twice the hashing on 100,000s of ids).
        const idsBefore = vmIds.size;
        vmIds.add(vm.id);
        if (vmIds.size === idsBefore) throw new PolicyInputError(`vms.${v}.id`, `duplicate VM id "${vm.id}"`);
      }
      const h = vm.hostId === lastHostId ? lastHost : this.hostIndex.get(vm.hostId);
      if (h === undefined) throw new PolicyInputError(`vms.${v}.hostId`, `VM ${vm.id} is on unknown host "${vm.hostId}"`);
      lastHostId = vm.hostId;
      lastHost = h;
      if (!Array.isArray(vm.cpuDemandMhzHistory) || vm.cpuDemandMhzHistory.length === 0) {
        throw new PolicyInputError(`vms.${v}.cpuDemandMhzHistory`, `VM ${vm.id} needs at least one CPU demand sample`);
      }
      if (!(vm.memoryMiB >= 0)) throw new PolicyInputError(`vms.${v}.memoryMiB`, `must be >= 0 (VM ${vm.id})`);
      this.vmHost[v] = h;
      this.vmCpu[v] = forecastSeries(vm.cpuDemandMhzHistory, fc);
      this.vmMem[v] = vm.memoryMiB;
      const mh = vm.memoryDemandMiBHistory;
      this.vmMemUse[v] = mh !== undefined && mh.length > 0 ? (mh[mh.length - 1] ?? 0) : vm.memoryMiB;
      if (this.aggregate) {
        windowInto(vm.cpuDemandMhzHistory, this.W, this.vmSeries, v * this.W);
        for (let i = 0; i < this.W; i++)
          this.hostSeries[h * this.W + i] = (this.hostSeries[h * this.W + i] ?? 0) + (this.vmSeries[v * this.W + i] ?? 0);
      } else {
        this.cpuLoad[h] = (this.cpuLoad[h] ?? 0) + (this.vmCpu[v] ?? 0);
      }
      this.memLoad[h] = (this.memLoad[h] ?? 0) + vm.memoryMiB;
      this.vcpuLoad[h] = (this.vcpuLoad[h] ?? 0) + vm.vcpus;
      this.memUse[h] = (this.memUse[h] ?? 0) + (this.vmMemUse[v] ?? 0);
      (this.hostVms[h] as number[]).push(v);
    }
    for (const m of snapshot.inFlight ?? []) {
      const v = this.vmIndex.get(m.vmId);
      const s = this.hostIndex.get(m.sourceHostId);
      const d = this.hostIndex.get(m.destinationHostId);
      if (v === undefined || s === undefined || d === undefined) {
        throw new PolicyInputError("inFlight", `migration ${m.id} names an unknown VM or host`);
      }
      this.vmInFlight[v] = 1;
      this.inFlightOut[s] = (this.inFlightOut[s] ?? 0) + 1;
      this.inFlightIn[d] = (this.inFlightIn[d] ?? 0) + 1;
      // The VM runs on its source until the switchover: reserve it on the destination too.
      if (this.vmHost[v] !== d) this.reserve(v, d, +1);
    }
    if (this.aggregate) for (let h = 0; h < H; h++) this.cpuLoad[h] = this.hostForecast(h);
    for (const f of snapshot.recentFailures ?? []) {
      const key = `${f.vmId}\u0000${f.destinationHostId}`;
      this.failures.set(key, Math.max(this.failures.get(key) ?? -Infinity, f.atMs));
      this.failedVms.add(f.vmId);
    }
    // Host contention when the host reports none: the VMs' vCPU wait, weighted by their CPU.
    for (let h = 0; h < H; h++) {
      if ((this.hosts[h] as Host).contention !== undefined) continue;
      let wsum = 0;
      let csum = 0;
      for (const v of this.hostVms[h] as number[]) {
        const c = (this.vms[v] as Vm).contention;
        if (c === undefined) continue;
        wsum += Math.max(this.vmCpu[v] ?? 0, 1e-6);
        csum += c * Math.max(this.vmCpu[v] ?? 0, 1e-6);
      }
      if (wsum > 0) this.contentionBase[h] = csum / wsum;
    }
    this.indexRules();
    this.cpuLoadBase.set(this.cpuLoad);
  }

  /** VM id -> index, built on first use: only rules, in-flight moves and failures look VMs up by id. */
  get vmIndex(): ReadonlyMap<string, number> {
    if (this.vmIndexMap === undefined) {
      this.vmIndexMap = new Map<string, number>();
      for (let v = 0; v < this.vms.length; v++) this.vmIndexMap.set((this.vms[v] as Vm).id, v);
    }
    return this.vmIndexMap;
  }

  private hostForecast(h: number): number {
    return forecastSeries(this.hostSeries.subarray(h * this.W, (h + 1) * this.W), this.cfg.forecast);
  }

  /** The host's forecast CPU load if the unit were added to it. */
  loadWith(unit: readonly number[], h: number): number {
    if (!this.aggregate) {
      let c = this.cpuLoad[h] ?? 0;
      for (const v of unit) c += this.vmCpu[v] ?? 0;
      return c;
    }
    const W = this.W;
    const x = this.scratch;
    for (let i = 0; i < W; i++) x[i] = this.hostSeries[h * W + i] ?? 0;
    for (const v of unit) for (let i = 0; i < W; i++) x[i] = (x[i] ?? 0) + (this.vmSeries[v * W + i] ?? 0);
    return forecastSeries(x, this.cfg.forecast);
  }

  /**
   * A lower bound of what adding the unit can add to any host's forecast load (exact demand
   * without aggregation; with it, the unit's smallest windowed sample: every statistic of the
   * sum grows by at least that. A falling trend can make the true increment smaller; then a
   * feasible host may be skipped, which is safe).
   */
  addedLowerBound(unit: readonly number[]): number {
    let c = 0;
    for (const v of unit) {
      if (!this.aggregate) {
        c += this.vmCpu[v] ?? 0;
        continue;
      }
      let lo = Infinity;
      for (let i = 0; i < this.W; i++) lo = Math.min(lo, this.vmSeries[v * this.W + i] ?? 0);
      c += Math.max(0, lo) * (1 + this.cfg.forecast.safetyMargin);
    }
    return c;
  }

  private reserve(v: number, h: number, sign: 1 | -1): void {
    const vm = this.vms[v] as Vm;
    if (this.aggregate) {
      for (let i = 0; i < this.W; i++)
        this.hostSeries[h * this.W + i] = (this.hostSeries[h * this.W + i] ?? 0) + sign * (this.vmSeries[v * this.W + i] ?? 0);
      this.cpuLoad[h] = this.hostForecast(h);
    } else {
      this.cpuLoad[h] = (this.cpuLoad[h] ?? 0) + sign * (this.vmCpu[v] ?? 0);
    }
    this.memLoad[h] = (this.memLoad[h] ?? 0) + sign * vm.memoryMiB;
    this.vcpuLoad[h] = (this.vcpuLoad[h] ?? 0) + sign * vm.vcpus;
    this.memUse[h] = (this.memUse[h] ?? 0) + sign * (this.vmMemUse[v] ?? 0);
  }

  private indexRules(): void {
    const parent = new Map<number, number>();
    const find = (x: number): number => {
      let r = x;
      while (parent.get(r) !== r) r = parent.get(r) as number;
      parent.set(x, r);
      return r;
    };
    this.rules.forEach((rule, ri) => {
      const members: number[] = [];
      for (const id of rule.vmIds) {
        const v = this.vmIndex.get(id);
        if (v === undefined) continue; // a rule may name VMs that no longer exist
        members.push(v);
        const list = this.vmRules.get(v);
        if (list === undefined) this.vmRules.set(v, [ri]);
        else list.push(ri);
      }
      if (rule.kind === "vm-affinity" && rule.hard && members.length > 1) {
        for (const m of members) if (!parent.has(m)) parent.set(m, m);
        const root = find(members[0] as number);
        for (const m of members) parent.set(find(m), root);
      }
    });
    const comps = new Map<number, number[]>();
    for (const v of parent.keys()) {
      const r = find(v);
      const c = comps.get(r);
      if (c === undefined) comps.set(r, [v]);
      else c.push(v);
    }
    for (const c of comps.values()) for (const v of c) this.affinityComp.set(v, c);
  }

  // ------------------------------------------------------------------------------------------
  // Queries

  hostId(h: number): string {
    return (this.hosts[h] as Host).id;
  }
  vmId(v: number): string {
    return (this.vms[v] as Vm).id;
  }
  state(h: number): Host["state"] {
    return (this.hosts[h] as Host).state;
  }
  /** Normalised CPU use of a host's capacity (not of the headroom-reduced cap). */
  cpuUtil(h: number): number {
    return (this.cpuLoad[h] ?? 0) / (this.hosts[h] as Host).cpuCapacityMhz;
  }
  memUtil(h: number): number {
    return (this.memUse[h] ?? 0) / (this.hosts[h] as Host).memoryMiB;
  }
  contention(h: number): number {
    const base = this.cpuLoadBase[h] ?? 0;
    return base > 0 ? (this.contentionBase[h] ?? 0) * ((this.cpuLoad[h] ?? 0) / base) : 0;
  }

  /**
   * The VMs that must move with `v` (its hard-affinity group members on the same host), or a
   * reason it cannot move at all in this plan.
   */
  unitOf(v: number, forced = false): { unit: number[] } | { reject: string } {
    const comp = this.affinityComp.get(v);
    const members = comp === undefined ? [v] : comp.filter((m) => this.vmHost[m] === this.vmHost[v]);
    for (const m of comp ?? members) {
      if (this.vmInFlight[m] === 1) return { reject: "vm.in-flight" };
    }
    for (const m of members) {
      const r = this.movable(m, forced);
      if (r !== null) return { reject: r };
    }
    return { unit: members };
  }

  /** Null when the VM may be moved now, else the not-moved code. */
  movable(v: number, forced = false): string | null {
    const vm = this.vms[v] as Vm;
    if (vm.pinned === true) return "vm.pinned";
    if (this.vmInFlight[v] === 1) return "vm.in-flight";
    if (this.vmMoved[v] === 1 || this.frozen.has(vm.id)) return "vm.cooldown";
    if (!forced && vm.lastMigrationMs !== undefined && this.nowMs - vm.lastMigrationMs < this.cfg.cooldown.vmMs) return "vm.cooldown";
    return null;
  }

  /**
   * True when the VM's placement depends on more than capacity (rules, compatibility, a return
   * cool-down or a recent failure), so a capacity-only shortcut must not be applied to it.
   */
  constrained(v: number): boolean {
    const vm = this.vms[v] as Vm;
    if (this.vmRules.has(v) || vm.cpuModel !== undefined || (vm.storage?.length ?? 0) > 0 || (vm.bridges?.length ?? 0) > 0) return true;
    if (vm.previousHostId !== undefined && vm.lastMigrationMs !== undefined && this.nowMs - vm.lastMigrationMs < this.cfg.cooldown.returnMs)
      return true;
    if (this.failures.size > 0 && this.failedVms.has(vm.id)) return true;
    return false;
  }

  /** Hosts with no VM and no migration touching them. */
  isEmpty(h: number): boolean {
    return (this.hostVms[h] as number[]).length === 0 && (this.inFlightIn[h] ?? 0) === 0 && (this.inFlightOut[h] ?? 0) === 0;
  }

  prediction(v: number, src: number, dst: number): MigrationPrediction | null {
    const bw = Math.min(this.bandwidth[src] ?? 0, this.bandwidth[dst] ?? 0);
    const usual = bw === this.cfg.migration.defaultBandwidthBytesPerSec;
    let p = usual ? this.predictions[v] : undefined;
    if (p !== undefined) return p;
    const vm = this.vms[v] as Vm;
    const input = {
      memoryMiB: vm.memoryMiB,
      dirtyRateBytesPerSec: vm.dirtyRateBytesPerSec ?? this.cfg.migration.defaultDirtyRateBytesPerSec,
      bandwidthBytesPerSec: bw,
      allowPostCopy: vm.allowPostCopy === true,
      diskBytes: vm.localDiskBytes ?? 0,
    };
    const byInput = cachedPredictions(this.predictionsByInput, input);
    const post = input.allowPostCopy ? 1 : 0;
    p = byInput[post];
    if (p === undefined) {
      p = predictMigration(input, this.cfg.migration);
      byInput[post] = p;
    }
    if (usual) this.predictions[v] = p;
    return p;
  }

  /** Sum of the unit's predicted costs, or null when a member cannot migrate. */
  unitCost(unit: readonly number[], src: number, dst: number): number | null {
    let c = 0;
    for (const v of unit) {
      const p = this.prediction(v, src, dst);
      if (p === null) return null;
      c += p.cost;
    }
    return c;
  }

  /** When the VM last failed to migrate to the host (recent failures), if it did. */
  failedAt(vmId: string, hostId: string): number | undefined {
    return this.failures.size > 0 ? this.failures.get(`${vmId}\u0000${hostId}`) : undefined;
  }

  /** `olderHypervisorRejects` for a move from `src` to `dst`, judged once per pair of versions. */
  private olderHypervisor(src: number, dst: number): RejectCode | null {
    const from = this.hypervisorOf[src] as number;
    const to = this.hypervisorOf[dst] as number;
    if (from < 0 || to < 0) return olderHypervisorRejects(this.hosts[src] as Host, this.hosts[dst] as Host);
    // Ids are below the host count: one number per pair.
    const pair = from * this.hosts.length + to;
    let r = this.olderByPair.get(pair);
    if (r === undefined) {
      r = olderHypervisorRejects(this.hosts[src] as Host, this.hosts[dst] as Host);
      this.olderByPair.set(pair, r);
    }
    return r;
  }

  private inFlightTargets: Map<number, number> | undefined;
  setInFlightTargets(map: Map<number, number>): void {
    this.inFlightTargets = map;
  }
  inFlightTo(v: number): number | undefined {
    return this.inFlightTargets?.get(v);
  }

  /**
   * Can the unit (all on one host) go to `dst`? Null if yes, else the first reason: the placement
   * predicates (placement.ts) in a fixed order, cheapest and most common refusals first.
   */
  check(unit: readonly number[], dst: number, opts: PlacementOptions = {}): Reject | null {
    const src = this.vmHost[unit[0] as number] as number;
    if (dst === src) return reject(RejectCode.sameHost);
    if (this.destOk[dst] !== 1) return reject(RejectCode.hostExcluded);
    const r = this.compatibilityRejects(unit, src, dst) ?? this.capacityRejects(unit, dst, opts.cpuFraction);
    if (r !== null) return reject(r);
    return this.cooldownAndRuleRejects(unit, dst, opts);
  }

  /** CPU (under `cpuFraction` of it when given), memory and vCPUs of `dst` with the unit added. */
  capacityRejects(unit: readonly number[], dst: number, cpuFraction?: number): RejectCode | null {
    return (
      cpuCapacityRejects(this, unit, dst, this.hosts[dst] as Host, cpuFraction) ??
      memoryCapacityRejects(this, unit, dst) ??
      vcpuCapacityRejects(this, unit, dst)
    );
  }

  /**
   * `check` without the host's state and load: could the unit go to `dst` once `dst` is up and has
   * room (a standby host, say)? Null if yes, else the first reason.
   */
  allowedOn(unit: readonly number[], dst: number, opts: PlacementOptions = {}): Reject | null {
    const src = this.vmHost[unit[0] as number] as number;
    if (dst === src) return reject(RejectCode.sameHost);
    const r = this.compatibilityRejects(unit, src, dst);
    if (r !== null) return reject(r);
    return this.cooldownAndRuleRejects(unit, dst, opts);
  }

  /** Hypervisor version, CPU model, core speed, storage and bridges: what no load on `dst` changes. */
  private compatibilityRejects(unit: readonly number[], src: number, dst: number): string | null {
    const older = this.olderHypervisor(src, dst);
    if (older !== null) return older;
    const host = this.hosts[dst] as Host;
    for (const v of unit) {
      const vm = this.vms[v] as Vm;
      const r = this.cpuRejects(v, host) ?? storageRejects(vm, host) ?? bridgeRejects(vm, host);
      if (r !== null) return r;
    }
    return null;
  }

  /** The VM's CPU model, and with `enforceCoreSpeed` its demand per vCPU, against the host's cores. */
  private cpuRejects(v: number, host: Host): RejectCode | null {
    return cpuModelRejects(this.vms[v] as Vm, host) ?? coreSpeedRejects(this, v, host);
  }

  /**
   * Why the VM's own host cannot run it as it needs, or null: a CPU model it lacks, or cores slower
   * than the VM's forecast demand per vCPU (`enforceCoreSpeed`): a placement made before the
   * requirement was stated, or a demand measured on faster cores. The destination predicates, on
   * the VM's own host. Not storage or bridges: a VM running there shows the host has them, and a
   * report that says otherwise is not fixed by moving it.
   */
  misfit(v: number): RejectCode | null {
    return this.cpuRejects(v, this.hosts[this.vmHost[v] as number] as Host);
  }

  /** Cool-downs and the hard (or, with `strictSoft`, every) rule. */
  private cooldownAndRuleRejects(unit: readonly number[], dst: number, opts: PlacementOptions): Reject | null {
    const host = this.hosts[dst] as Host;
    for (const v of unit) {
      const vm = this.vms[v] as Vm;
      const r = failureCooldownRejects(this, vm, host) ?? returnCooldownRejects(this, vm, host, opts.forced === true);
      if (r !== null) return reject(r);
      const rs = this.vmRules.get(v);
      if (rs === undefined) continue;
      for (const ri of rs) {
        const rule = this.rules[ri] as Rule;
        if (!isHardRule(rule) && opts.strictSoft !== true) continue;
        const code = ruleRejects(this, rule, v, unit, dst);
        if (code !== null) return { code, ruleId: rule.id };
      }
    }
    return null;
  }

  /** Number of soft rules the unit would break on `dst` minus those it breaks where it is. */
  softPenalty(unit: readonly number[], dst: number): number {
    let p = 0;
    const src = this.vmHost[unit[0] as number] as number;
    for (const v of unit) {
      const rs = this.vmRules.get(v);
      if (rs === undefined) continue;
      for (const ri of rs) {
        const rule = this.rules[ri] as Rule;
        if (isHardRule(rule)) continue;
        if (ruleRejects(this, rule, v, unit, dst) !== null) p++;
        if (ruleRejects(this, rule, v, unit, src) !== null) p--;
      }
    }
    return p;
  }

  /** Undo a tentative `move` (for what-if placement, e.g. a parking move that did not help). */
  unmove(unit: readonly number[], back: number): void {
    this.move(unit, back);
    for (const v of unit) this.vmMoved[v] = 0;
  }

  /** Tentatively move a unit: loads, placement and the moved flag are updated. */
  move(unit: readonly number[], dst: number): void {
    for (const v of unit) {
      const src = this.vmHost[v] as number;
      this.reserve(v, src, -1);
      this.reserve(v, dst, +1);
      removeFrom(this.hostVms[src] as number[], v);
      (this.hostVms[dst] as number[]).push(v);
      this.vmHost[v] = dst;
      this.vmMoved[v] = 1;
    }
  }
}

/** The number standing for `key` in `ids`, a new one for a key not seen before. */
function idOf(ids: Map<string, number>, key: string): number {
  let id = ids.get(key);
  if (id === undefined) ids.set(key, (id = ids.size));
  return id;
}

/**
 * Removes `v` from the list in place, keeping the order of the others: as `splice` does, but
 * without the array of removed elements it returns (three moves per VM of a big plan).
 */
function removeFrom(list: number[], v: number): void {
  const i = list.indexOf(v);
  if (i < 0) return;
  for (let k = i + 1; k < list.length; k++) list[k - 1] = list[k] as number;
  list.pop();
}

/** The cached predictions (post-copy no, yes) for the input's memory, dirty rate, bandwidth and disk bytes. */
function cachedPredictions(
  cache: Map<number, Map<number, Map<number, Map<number, (MigrationPrediction | null)[]>>>>,
  input: { memoryMiB: number; dirtyRateBytesPerSec: number; bandwidthBytesPerSec: number; diskBytes: number },
): (MigrationPrediction | null)[] {
  // Map keys compare by SameValueZero, as the text of the numbers did (0 and -0 alike, NaN equal).
  let a = cache.get(input.memoryMiB);
  if (a === undefined) cache.set(input.memoryMiB, (a = new Map()));
  let b = a.get(input.dirtyRateBytesPerSec);
  if (b === undefined) a.set(input.dirtyRateBytesPerSec, (b = new Map()));
  let c = b.get(input.bandwidthBytesPerSec);
  if (c === undefined) b.set(input.bandwidthBytesPerSec, (c = new Map()));
  let d = c.get(input.diskBytes);
  if (d === undefined) c.set(input.diskBytes, (d = []));
  return d;
}

/** Build the model, wiring in-flight destinations for anti-affinity checks. */
export function buildModel(snapshot: ClusterSnapshot, nowMs: number, frozenVmIds?: ReadonlySet<string>): ClusterModel {
  const m = new ClusterModel(snapshot, nowMs, frozenVmIds === undefined ? {} : { frozenVmIds });
  const targets = new Map<number, number>();
  for (const f of snapshot.inFlight ?? []) {
    const v = m.vmIndex.get(f.vmId);
    const d = m.hostIndex.get(f.destinationHostId);
    if (v !== undefined && d !== undefined) targets.set(v, d);
  }
  m.setInFlightTargets(targets);
  return m;
}
