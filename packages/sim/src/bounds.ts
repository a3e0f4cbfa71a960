// Physical reference points: the fluid lower bound (every MIPS served at the best watts per
// MIPS of any host type) and a per-instant first-fit-decreasing repacking oracle (free,
// instantaneous migrations). Both follow the mode's semantics: in compat VMs vanish as in Q1
// and the energy window is CloudSim's; otherwise every VM lives all day over 24 h.
import { powerAt, referenceHostTypes, referenceVmTypeIndex, referenceVmTypes } from "./power.js";
import type { HostType, VmType } from "./power.js";
import type { Mode } from "./quirks.js";
import type { Workload } from "./traces.js";

export interface BoundOptions {
  readonly workload: Workload;
  readonly mode: Mode;
  readonly hosts?: number;
  readonly hostTypes?: readonly HostType[];
  readonly vmTypes?: readonly VmType[];
  /**
   * How energy between two instants is integrated: "trapezoid" (as the engine does, default) or
   * "step" (each sample held for its interval; how the reference's persistent numbers were made).
   */
  readonly integration?: "trapezoid" | "step";
}

export interface BoundResult {
  readonly energyKwh: number;
  readonly activeHostsMean: number;
  readonly activeHostsMax: number;
}

interface Setup {
  times: number[];
  /** Demand of VM v at instant index i, in MIPS (0 once removed in compat). */
  demand: (v: number, i: number) => number;
  nVms: number;
  vmRam: Float64Array;
  hostOrder: number[];
  hostTypes: HostType[];
}

function setup(o: BoundOptions): Setup {
  const w = o.workload;
  const nVms = w.names.length;
  const nHosts = o.hosts ?? 800;
  const hostTypes = o.hostTypes ?? referenceHostTypes;
  const vmTypes = o.vmTypes ?? referenceVmTypes;
  const I = w.intervalSeconds;
  const S = w.stride;
  const mips = new Float64Array(nVms);
  const vmRam = new Float64Array(nVms);
  for (let v = 0; v < nVms; v++) {
    const t = vmTypes[Math.min(vmTypes.length - 1, referenceVmTypeIndex(v, nVms))] as VmType;
    mips[v] = t.mips;
    vmRam[v] = t.ramMb;
  }
  const compat = o.mode === "compat";
  const times: number[] = [];
  if (compat) for (let k = 1; 300 * k + 0.1 <= (S - 1) * I; k++) times.push(I * k + 0.1);
  else for (let k = 0; k < S; k++) times.push(I * k);
  // Q1: VM v disappears at the first round k >= 1 with two zero samples.
  const removedAt = new Int32Array(nVms).fill(0x3fffffff);
  if (compat) {
    for (let v = 0; v < nVms; v++) {
      for (let k = 1; k + 1 < S; k++) {
        if (w.data[v * S + k] === 0 && w.data[v * S + k + 1] === 0) {
          removedAt[v] = k;
          break;
        }
      }
    }
  }
  const demand = (v: number, i: number): number => {
    const t = times[i] as number;
    const k = Math.floor(t / I);
    if (compat && k >= (removedAt[v] as number)) return 0;
    const f = (t - k * I) / I;
    const a = w.data[v * S + k] as number;
    const b = w.data[v * S + Math.min(k + 1, S - 1)] as number;
    return (a + (b - a) * f) * (mips[v] as number);
  };
  // Most efficient type first (watts per MIPS at full load), then host id.
  const types = Array.from({ length: nHosts }, (_, h) => hostTypes[h % hostTypes.length] as HostType);
  const eff = (t: HostType) => (t.power.table[10] as number) / (t.peMips * t.pes);
  const hostOrder = Array.from({ length: nHosts }, (_, h) => h).sort(
    (a, b) => eff(types[a] as HostType) - eff(types[b] as HostType) || a - b,
  );
  return { times, demand, nVms, vmRam, hostOrder, hostTypes: types };
}

function integrate(times: number[], power: number[], how: "trapezoid" | "step"): number {
  let e = 0;
  for (let i = 0; i + 1 < times.length; i++) {
    const dt = (times[i + 1] as number) - (times[i] as number);
    e += how === "step" ? (power[i] as number) * dt : (((power[i] as number) + (power[i + 1] as number)) / 2) * dt;
  }
  return e / 3.6e6;
}

export function fluidBound(o: BoundOptions): BoundResult {
  const s = setup(o);
  const best = Math.min(...s.hostTypes.map((t) => (t.power.table[10] as number) / (t.peMips * t.pes)));
  const power = s.times.map((_, i) => {
    let d = 0;
    for (let v = 0; v < s.nVms; v++) d += s.demand(v, i);
    return d * best;
  });
  const minHosts = s.times.map((_, i) => {
    let d = 0;
    for (let v = 0; v < s.nVms; v++) d += s.demand(v, i);
    const maxCap = Math.max(...s.hostTypes.map((t) => t.peMips * t.pes));
    return Math.ceil(d / maxCap);
  });
  return {
    energyKwh: integrate(s.times, power, o.integration ?? "trapezoid"),
    activeHostsMean: minHosts.reduce((a, b) => a + b, 0) / minHosts.length,
    activeHostsMax: Math.max(...minHosts),
  };
}

/**
 * First-fit decreasing at every instant over hosts ordered most-efficient first. CPU only
 * (a VM fits a host if its demand fits one PE and the host's free MIPS); with ramMb, VM RAM must
 * fit too and every VM (even idle) needs a host. A segment tree finds the first fitting host in
 * O(log H), so 20,000 hosts stay cheap.
 */
export function ffdOracle(o: BoundOptions): BoundResult {
  const s = setup(o);
  const ram = o.mode === "clean+ram";
  const H = s.hostOrder.length;
  const pe = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).peMips);
  const cap = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).peMips * (s.hostTypes[h] as HostType).pes);
  const ramCap = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).ramMb);
  let size = 1;
  while (size < H) size <<= 1;
  const tree = new Float64Array(2 * size);
  const load = new Float64Array(H);
  const ramUsed = new Float64Array(H);
  const used = new Uint8Array(H);
  const leaf = (j: number) => Math.min((cap[j] as number) - (load[j] as number), pe[j] as number);
  const set = (j: number) => {
    let i = size + j;
    tree[i] = leaf(j);
    for (i >>= 1; i >= 1; i >>= 1) tree[i] = Math.max(tree[2 * i] as number, tree[2 * i + 1] as number);
  };
  const firstFit = (x: number): number => {
    if ((tree[1] as number) < x) return -1;
    let i = 1;
    while (i < size) i = (tree[2 * i] as number) >= x ? 2 * i : 2 * i + 1;
    return i - size;
  };
  const power: number[] = [];
  const counts: number[] = [];
  const order = new Int32Array(s.nVms);
  const d = new Float64Array(s.nVms);
  for (let i = 0; i < s.times.length; i++) {
    load.fill(0);
    ramUsed.fill(0);
    used.fill(0);
    tree.fill(-1);
    for (let j = 0; j < H; j++) set(j);
    for (let v = 0; v < s.nVms; v++) {
      d[v] = s.demand(v, i);
      order[v] = v;
    }
    order.sort((a, b) => (d[b] as number) - (d[a] as number) || a - b);
    for (const v of order) {
      const x = d[v] as number;
      if (!ram) {
        if (x <= 0) continue;
        const j = firstFit(x);
        if (j < 0) continue; // demand beyond the cluster: unserved in the oracle too
        load[j] = (load[j] as number) + x;
        used[j] = 1;
        set(j);
      } else {
        const r = s.vmRam[v] as number;
        for (let j = 0; j < H; j++) {
          if ((ramUsed[j] as number) + r > (ramCap[j] as number) || leaf(j) < x) continue;
          load[j] = (load[j] as number) + x;
          ramUsed[j] = (ramUsed[j] as number) + r;
          used[j] = 1;
          break;
        }
      }
    }
    let p = 0;
    let c = 0;
    for (let j = 0; j < H; j++) {
      if (!used[j]) continue;
      c++;
      const t = s.hostTypes[s.hostOrder[j] as number] as HostType;
      p += powerAt(t.power, Math.min(1, (load[j] as number) / (t.peMips * t.pes)));
    }
    power.push(p);
    counts.push(c);
  }
  return {
    energyKwh: integrate(s.times, power, o.integration ?? "trapezoid"),
    activeHostsMean: counts.reduce((a, b) => a + b, 0) / counts.length,
    activeHostsMax: Math.max(...counts),
  };
}
