// May this host be powered off now? The one home of that safety rule. Consolidate asks before it
// proposes a power-off (on its planning model, as its tentative moves stand); the scheduler's
// power manager asks right before it sends the command (on the snapshot the planner builds from
// the freshest reports). validatePlan checks the same invariants on its own, on purpose.
//
// A host may be powered off when it is on and reachable (healthy, draining or maintenance),
// Drover may power it off (`power.canPowerOff`), it runs no VM, no migration touches it, another
// healthy host remains, it is not the last healthy host of a must/should vm-host rule, the healthy
// hosts left keep the spare capacity (`config.spare`, on forecast CPU and allocated memory), and
// the CPU left on carries the cluster's forecast demand for as long as waking a host takes.

import { PowerOffBlockCode } from "./codes.js";
import { forecastSeries, seasonalPeak } from "./forecast.js";
import { buildModel, type ClusterModel } from "./model.js";
import type { ClusterSnapshot, Host, Vm, VmHostRule } from "./types.js";

export interface PowerOffBlocker {
  readonly code: PowerOffBlockCode;
  readonly message: string;
}

const EPS = 1e-9;

/** Why the host may not be powered off in this cluster state, most basic reason first; empty when it may. */
export function powerOffBlockers(snapshot: ClusterSnapshot, hostId: string): PowerOffBlocker[] {
  // Cool-downs restrict moves, not power: the rule does not depend on the time (a demand forecast
  // counts from its own start).
  const m = buildModel(snapshot, 0);
  const h = m.hostIndex.get(hostId);
  if (h === undefined) return [{ code: PowerOffBlockCode.unknownHost, message: `${hostId} is not in the cluster snapshot` }];
  return new PowerOffGuard(m).blockers(h);
}

/**
 * The power-off rule over a planning model, with the cluster totals it needs kept as running
 * sums, so a policy that moves VMs and powers hosts off in one plan asks in O(1) per host. Every
 * change of a host's load goes between `moving` and `moved`, every power-off through `powerOff`.
 */
export class PowerOffGuard {
  /** Free CPU (MHz, under the headroom) and memory (MiB) on the healthy hosts. */
  private freeCpu = 0;
  private freeMem = 0;
  /** Forecast CPU placed on all hosts (in-flight reservations included). */
  private load = 0;
  private maxCpu = 0;
  private maxMem = 0;
  private healthy = 0;
  /** CPU under the headroom of the hosts that are on (healthy) or coming on (waking). */
  private capOn = 0;
  /** Shortest wake latency of the standby hosts that can be woken. */
  private fastestWakeMs = Infinity;
  private readonly hostRules = new Map<number, VmHostRule[]>();
  private readonly demandAt = new Map<number, number>();
  /** The cluster's summed demand window and physical ceiling (read once, for every distance ahead). */
  private demand: ClusterDemand | undefined;
  private readonly cpuFactor: number;
  private readonly memFactor: number;

  constructor(private readonly m: ClusterModel) {
    const c = m.cfg.capacity;
    this.cpuFactor = 1 - c.cpuHeadroom;
    this.memFactor = c.memoryOvercommit * (1 - c.memoryHeadroom);
    for (let h = 0; h < m.hosts.length; h++) {
      const host = m.hosts[h] as Host;
      this.freeCpu += this.freeCpuOf(h);
      this.freeMem += this.freeMemOf(h);
      this.load += m.cpuLoad[h] ?? 0;
      this.maxCpu = Math.max(this.maxCpu, host.cpuCapacityMhz * this.cpuFactor);
      this.maxMem = Math.max(this.maxMem, host.memoryMiB * this.memFactor);
      if (m.destOk[h] === 1) this.healthy++;
      if (this.countsOn(h)) this.capOn += host.cpuCapacityMhz * this.cpuFactor;
      if (host.state === "standby" && host.power.canWake) this.fastestWakeMs = Math.min(this.fastestWakeMs, host.power.wakeLatencyMs);
    }
    for (const r of m.rules) {
      if (r.kind !== "vm-host" || (r.mode !== "must" && r.mode !== "should")) continue;
      for (const id of r.hostIds) {
        const h = m.hostIndex.get(id);
        if (h === undefined) continue;
        const list = this.hostRules.get(h);
        if (list === undefined) this.hostRules.set(h, [r]);
        else if (!list.includes(r)) list.push(r);
      }
    }
  }

  /** Free CPU on the healthy hosts, MHz. */
  get freeCpuMhz(): number {
    return this.freeCpu;
  }
  /** The spare CPU the healthy hosts must keep free, MHz. */
  get needCpuMhz(): number {
    return this.m.cfg.spare.hosts * this.maxCpu + this.m.cfg.spare.cpuFraction * this.load;
  }
  private get needMemMiB(): number {
    return this.m.cfg.capacity.enforceMemory ? this.m.cfg.spare.hosts * this.maxMem : 0;
  }

  /** Forecast of the cluster's total CPU demand `aheadMs` from now (cached per distance). */
  demandAhead(aheadMs: number): number {
    let d = this.demandAt.get(aheadMs);
    if (d === undefined) {
      this.demand ??= clusterDemand(this.m);
      d = clusterForecast(this.m, this.demand, aheadMs);
      this.demandAt.set(aheadMs, d);
    }
    return d;
  }

  /**
   * A move of VMs from `src` to `dst` in the model is about to change their loads: the two hosts
   * leave the totals until `moved(src, dst)` counts them again as they then stand. Every change of
   * a host's load is wrapped in the two (a pair of calls, not a callback: a big plan moves VMs
   * 100,000s of times, and each callback was an allocation).
   */
  moving(src: number, dst: number): void {
    const { cpuLoad } = this.m;
    this.freeCpu -= this.freeCpuOf(src) + this.freeCpuOf(dst);
    this.freeMem -= this.freeMemOf(src) + this.freeMemOf(dst);
    this.load -= (cpuLoad[src] ?? 0) + (cpuLoad[dst] ?? 0);
  }

  /** The move announced by `moving(src, dst)` is done. */
  moved(src: number, dst: number): void {
    const { cpuLoad } = this.m;
    this.freeCpu += this.freeCpuOf(src) + this.freeCpuOf(dst);
    this.freeMem += this.freeMemOf(src) + this.freeMemOf(dst);
    this.load += (cpuLoad[src] ?? 0) + (cpuLoad[dst] ?? 0);
  }

  /** The plan powers `h` off: it leaves the model's powered hosts and the totals. */
  powerOff(h: number): void {
    const { m } = this;
    const host = m.hosts[h] as Host;
    this.freeCpu -= this.freeCpuOf(h);
    this.freeMem -= this.freeMemOf(h);
    if (this.countsOn(h)) this.capOn -= host.cpuCapacityMhz * this.cpuFactor;
    if (m.destOk[h] === 1) this.healthy--;
    m.destOk[h] = 0;
    m.on[h] = 0;
    if (host.power.canWake) this.fastestWakeMs = Math.min(this.fastestWakeMs, host.power.wakeLatencyMs);
  }

  /** Why `h` may not be powered off as the model stands; empty when it may. */
  blockers(h: number): PowerOffBlocker[] {
    return this.collect(h, false);
  }

  /**
   * The same rule for a host whose VMs would first move to the other healthy hosts (a policy asks
   * before it tries to empty the host): its VMs do not count, and the spare is projected with
   * their load moved (CPU only when loads add up, i.e. not with forecast.aggregate = "host").
   */
  blockersOnceEmptied(h: number): PowerOffBlocker[] {
    return this.collect(h, true);
  }

  private collect(h: number, emptied: boolean): PowerOffBlocker[] {
    const { m } = this;
    const host = m.hosts[h] as Host;
    const id = host.id;
    const out: PowerOffBlocker[] = [];
    const block = (code: PowerOffBlockCode, message: string) => out.push({ code, message });

    const state = m.on[h] === 1 ? host.state : host.state === "waking" ? "waking" : "standby";
    if (state !== "healthy" && state !== "draining" && state !== "maintenance")
      block(PowerOffBlockCode.hostState, `${id} is ${state}: only a host that is on and reachable is powered off`);
    if (!host.power.canPowerOff)
      block(PowerOffBlockCode.cannotPowerOff, `${id} may not be powered off by Drover (power.canPowerOff is false)`);
    const vms = (m.hostVms[h] as number[]).length;
    if (!emptied && vms > 0) block(PowerOffBlockCode.vmsPresent, `${id} runs ${vms} VM(s); drain it first`);
    if ((m.inFlightIn[h] ?? 0) > 0 || (m.inFlightOut[h] ?? 0) > 0)
      block(PowerOffBlockCode.migrationInFlight, `a migration to or from ${id} is in flight`);
    if (this.healthy - (m.destOk[h] === 1 ? 1 : 0) === 0) block(PowerOffBlockCode.lastHealthyHost, `${id} is the last healthy host`);
    for (const r of this.hostRules.get(h) ?? []) {
      if (!r.hostIds.some((x) => x !== id && m.destOk[m.hostIndex.get(x) ?? -1] === 1))
        block(PowerOffBlockCode.lastHostOfRule, `${id} is the last healthy host of rule ${r.id}`);
    }

    const needCpu = this.needCpuMhz;
    const cpuLeft = this.freeCpu - this.freeCpuOf(h) - (emptied ? (m.cpuLoad[h] ?? 0) : 0);
    if (!(emptied && m.aggregate) && cpuLeft + EPS < needCpu)
      block(
        PowerOffBlockCode.spareCapacity,
        `without ${id} free CPU would be ${cpuLeft.toFixed(0)} MHz, below the spare ${needCpu.toFixed(0)} MHz`,
      );
    const needMem = this.needMemMiB;
    const memLeft = this.freeMem - this.freeMemOf(h) - (emptied ? (m.memLoad[h] ?? 0) : 0);
    if (needMem > 0 && memLeft + EPS < needMem)
      block(
        PowerOffBlockCode.spareCapacity,
        `without ${id} free memory would be ${memLeft.toFixed(0)} MiB, below the spare ${needMem.toFixed(0)} MiB`,
      );

    if (m.cfg.capacity.enforceCpu) {
      // Capacity comes back no sooner than the fastest wake: a standby host's, or this one's.
      const latency = Math.min(this.fastestWakeMs, host.power.canWake ? host.power.wakeLatencyMs : Infinity);
      const demand = this.demandAhead(latency);
      const left = this.capOn - (this.countsOn(h) ? host.cpuCapacityMhz * this.cpuFactor : 0);
      if (left + EPS < demand) {
        const when = Number.isFinite(latency) ? `over the ${(latency / 1000).toFixed(0)} s a wake takes` : "with no host that can be woken";
        block(
          PowerOffBlockCode.forecastDemand,
          `without ${id} the hosts on would have ${left.toFixed(0)} MHz for a forecast demand of ${demand.toFixed(0)} MHz ${when}`,
        );
      }
    }
    return out;
  }

  private countsOn(h: number): boolean {
    return this.m.destOk[h] === 1 || (this.m.hosts[h] as Host).state === "waking";
  }
  private freeCpuOf(h: number): number {
    const { m } = this;
    return m.destOk[h] === 1 ? Math.max(0, (m.hosts[h] as Host).cpuCapacityMhz * this.cpuFactor - (m.cpuLoad[h] ?? 0)) : 0;
  }
  private freeMemOf(h: number): number {
    const { m } = this;
    return m.destOk[h] === 1 ? Math.max(0, (m.hosts[h] as Host).memoryMiB * this.memFactor - (m.memLoad[h] ?? 0)) : 0;
  }
}

interface ClusterDemand {
  /** The VMs' CPU histories summed over the forecast window. */
  readonly series: Float64Array;
  /** What the VMs can physically use: each vCPU at most one core. */
  readonly ceiling: number;
}

function clusterDemand(m: ClusterModel): ClusterDemand {
  const w = m.cfg.forecast.windowSamples;
  const series = new Float64Array(w);
  let coreMhz = 0;
  for (const h of m.hosts) coreMhz = Math.max(coreMhz, h.cpuCapacityMhz / Math.max(1, h.cpuCores));
  let ceiling = 0;
  // One pass over the VMs, by index: this runs once a plan (rarely optimised by then), where a
  // for-of made an iterator result per VM of 200,000.
  const { vms } = m;
  for (let v = 0; v < vms.length; v++) {
    const vm = vms[v] as Vm;
    const hist = vm.cpuDemandMhzHistory;
    const last = hist.length - 1;
    for (let i = 0; i < w; i++) series[w - 1 - i] = (series[w - 1 - i] ?? 0) + (hist[last - i] ?? hist[0] ?? 0);
    ceiling += vm.vcpus * coreMhz;
  }
  return { series, ceiling };
}

/** Forecast of the total CPU demand `aheadMs` from now: the cluster's summed history, forecast. */
function clusterForecast(m: ClusterModel, { series, ceiling }: ClusterDemand, aheadMs: number): number {
  const fc = m.cfg.forecast;
  const w = fc.windowSamples;
  // A line fitted over w samples says nothing about a point further ahead than w: with 5 s
  // reports and a 300 s wake latency, projecting 60 samples ahead turned a noisy minute into a
  // demand the whole cluster could not produce. Look ahead at most one window...
  const horizon = Math.min(w, Math.max(fc.horizonSamples, Math.ceil(aheadMs / m.cfg.sampleIntervalMs)));
  const recent = forecastSeries(Array.from(series), { ...fc, horizonSamples: horizon });
  // The cluster's daily and weekly pattern, when the snapshot carries one: demand that comes back
  // every morning is planned for before it shows in the recent window.
  // (The rule alone is judged at time 0, which has no cool-downs: the forecast then counts from its start.)
  const seasonal = seasonalPeak(m.demandForecast, Math.max(m.nowMs, m.demandForecast?.fromMs ?? 0), aheadMs);
  const demand = seasonal === null ? recent : Math.max(recent, seasonal * (1 + fc.safetyMargin));
  // ...and never beyond what the VMs can physically use (the ceiling).
  return Math.min(ceiling, demand);
}
