// Host efficiency for consolidate, from the hosts' power data. What a host costs depends on what
// sets the host count: while CPU is clearly the fuller resource of the powered hosts, full-load
// watts per MHz; while memory is, watts per MiB at the CPU load the host would carry (every host
// then holds about its share of memory, and with it its share of the CPU demand); near the tie,
// neither. A host worse than the best usable one by more than a margin is "inefficient":
// consolidate empties it first and packs efficient hosts' VMs elsewhere.

import type { ClusterModel } from "../model.js";
import type { Host } from "../types.js";

const EPS = 1e-9;
/**
 * A resource sets the host count only when it is fuller than the other by this fraction. Near the
 * tie the two rankings may disagree, and following whichever is ahead this round would empty one
 * kind of host now and the other kind the next: there no host is inefficient.
 */
const CLEARLY = 0.1;

export interface Efficiency {
  /** Watts per MHz at full load (CPU binds) or per MiB at the cluster's load (memory binds), lower is better; NaN without power data. */
  readonly of: Float64Array;
  /** The best (lowest) of the hosts that are or may become usable. */
  readonly best: number;
  /** Worse than the best by more than `efficiencyMargin` (always false while the preference is off). */
  inefficient(h: number): boolean;
  /** For sorting: `of`, Infinity when unknown. */
  rank(h: number): number;
  /** Full-load watts per MHz, Infinity when unknown: the order to wake hosts in for CPU demand, whatever binds. */
  perMhz(h: number): number;
  /** A host's load in the binding resource (MHz or MiB). */
  load(h: number): number;
  /** What host h takes of the binding resource once on: its CPU up to `pack`, or its memory. */
  offers(h: number, pack: number): number;
  /** `of` in words, e.g. "25.4 W per GHz at full load". */
  describe(w: number): string;
}

export function efficiency(m: ClusterModel, args: { readonly preferEfficient: boolean; readonly efficiencyMargin: number }): Efficiency {
  const H = m.hosts.length;
  let memUse = 0;
  let memCapOn = 0;
  let cpuUse = 0;
  let cpuCapOn = 0;
  for (let h = 0; h < H; h++) {
    if (m.destOk[h] !== 1) continue;
    memUse += m.memLoad[h] ?? 0;
    memCapOn += m.memCap[h] ?? 0;
    cpuUse += m.cpuLoad[h] ?? 0;
    cpuCapOn += m.cpuCap[h] ?? 0;
  }
  const memFrac = m.cfg.capacity.enforceMemory && memCapOn > 0 ? memUse / memCapOn : 0;
  const cpuFrac = cpuCapOn > 0 ? cpuUse / cpuCapOn : 0;
  const binds = memFrac > cpuFrac * (1 + CLEARLY) ? "memory" : cpuFrac > memFrac * (1 + CLEARLY) || memFrac === 0 ? "cpu" : "neither";
  // With memory binding, a host of memory M carries about M × (the cluster's CPU demand per MiB of
  // powered memory): watts by the linear idle-to-full model (full-load watts without idleW).
  const cpuPerMiB = memCapOn > 0 ? cpuUse / memCapOn : 0;
  const of = new Float64Array(H);
  let best = Infinity;
  for (let h = 0; h < H; h++) {
    const host = m.hosts[h] as Host;
    const { idleW, maxW } = host.power;
    if (maxW === undefined) of[h] = Number.NaN;
    else if (binds !== "memory") of[h] = maxW / host.cpuCapacityMhz;
    else {
      const mem = m.memCap[h] ?? 0;
      const util = Math.min(1, (mem * cpuPerMiB) / host.cpuCapacityMhz);
      of[h] = mem > 0 ? (idleW === undefined ? maxW : idleW + (maxW - idleW) * util) / mem : Number.NaN;
    }
    const usable = m.destOk[h] === 1 || host.state === "waking" || (host.state === "standby" && host.power.canWake);
    if (usable && Number.isFinite(of[h])) best = Math.min(best, of[h] as number);
  }
  const prefer = args.preferEfficient && binds !== "neither";
  return {
    of,
    best,
    inefficient: (h) => prefer && (of[h] as number) > best * (1 + args.efficiencyMargin) + EPS,
    rank: (h) => (Number.isFinite(of[h]) ? (of[h] as number) : Infinity),
    perMhz: (h) => {
      const host = m.hosts[h] as Host;
      return host.power.maxW === undefined ? Infinity : host.power.maxW / host.cpuCapacityMhz;
    },
    load: binds !== "memory" ? (h) => m.cpuLoad[h] ?? 0 : (h) => m.memLoad[h] ?? 0,
    offers: binds !== "memory" ? (h, pack) => (m.hosts[h] as Host).cpuCapacityMhz * pack : (h) => m.memCap[h] ?? 0,
    describe: (w) =>
      binds !== "memory" ? `${(w * 1000).toFixed(1)} W per GHz at full load` : `${(w * 1024).toFixed(2)} W per GiB at this cluster's load`,
  };
}
