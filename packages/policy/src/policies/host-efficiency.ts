// Host efficiency for consolidate: full-load watts per MHz, from the hosts' power data. A host
// worse than the best usable one by more than a margin is "inefficient": consolidate empties it
// first and packs efficient hosts' VMs elsewhere.

import type { ClusterModel } from "../model.js";
import type { Host } from "../types.js";

const EPS = 1e-9;

export interface Efficiency {
  /** Full-load watts per MHz (lower is better), NaN without power data. */
  readonly of: Float64Array;
  /** The best (lowest) of the hosts that are or may become usable. */
  readonly best: number;
  /** Worse than the best by more than `efficiencyMargin` (always false while the preference is off). */
  inefficient(h: number): boolean;
  /** For sorting: watts per MHz, Infinity when unknown. */
  rank(h: number): number;
}

export function efficiency(m: ClusterModel, args: { readonly preferEfficient: boolean; readonly efficiencyMargin: number }): Efficiency {
  const H = m.hosts.length;
  const of = new Float64Array(H);
  let best = Infinity;
  for (let h = 0; h < H; h++) {
    const host = m.hosts[h] as Host;
    const w = host.power.maxW;
    of[h] = w === undefined ? Number.NaN : w / host.cpuCapacityMhz;
    const usable = m.destOk[h] === 1 || host.state === "waking" || (host.state === "standby" && host.power.canWake);
    if (usable && Number.isFinite(of[h])) best = Math.min(best, of[h] as number);
  }
  // Watts per MHz ranks hosts only while CPU is what binds: when memory fills up first (as a
  // fraction of the powered hosts' capacity), the host count is set by memory and a "cheap per
  // MHz" host may be the dearer one per GiB, so the preference is off.
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
  const memoryBinds = m.cfg.capacity.enforceMemory && memCapOn > 0 && cpuCapOn > 0 && memUse / memCapOn > cpuUse / cpuCapOn;
  const prefer = args.preferEfficient && !memoryBinds;
  return {
    of,
    best,
    inefficient: (h) => prefer && (of[h] as number) > best * (1 + args.efficiencyMargin) + EPS,
    rank: (h) => (Number.isFinite(of[h]) ? (of[h] as number) : Infinity),
  };
}
