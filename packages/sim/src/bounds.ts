// Physical reference points: the fluid lower bound (every MIPS served at the best watts per
// MIPS of any host type) and a per-instant first-fit-decreasing repacking oracle (free,
// instantaneous migrations). Both follow the mode's semantics: in compat VMs vanish as in Q1
// and the energy window is CloudSim's; otherwise every VM lives all day over 24 h.
import { powerAt, referenceHostTypes, referenceVmTypeIndex, referenceVmTypes } from "./power.js";
import type { HostType, VmType } from "./power.js";
import type { Mode } from "./quirks.js";
import type { Workload } from "./traces.js";
import { SimError, SimErrorCode } from "./errors.js";

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
  /**
   * ffdOracle only: each instant's placement must also fit the demand of the next `lookahead`
   * instants (default 0). An online policy moves VMs after it sees the demand, so its placement
   * runs into the next interval: with 1, this is the oracle for a policy that knows the next
   * interval exactly and may repack every VM each round.
   */
  readonly lookahead?: number;
}

export interface BoundResult {
  readonly energyKwh: number;
  /** Energy between the first two instants (clean: the first interval, before any policy's first plan). */
  readonly firstIntervalKwh: number;
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

/** A bound's result from its power and host count at each instant. */
function boundResult(times: number[], power: number[], hosts: number[], how: "trapezoid" | "step"): BoundResult {
  return {
    energyKwh: integrate(times, power, how),
    firstIntervalKwh: integrate(times.slice(0, 2), power.slice(0, 2), how),
    activeHostsMean: hosts.reduce((a, b) => a + b, 0) / hosts.length,
    activeHostsMax: hosts.reduce((a, b) => Math.max(a, b), 0),
  };
}

function integrate(times: number[], power: number[], how: "trapezoid" | "step"): number {
  let e = 0;
  for (let i = 0; i + 1 < times.length; i++) {
    const dt = (times[i + 1] as number) - (times[i] as number);
    e += how === "step" ? (power[i] as number) * dt : (((power[i] as number) + (power[i + 1] as number)) / 2) * dt;
  }
  return e / 3.6e6;
}

/**
 * Every MIPS served at the best watts per MIPS of any host type (a host at utilisation u draws at
 * least u times its full-load watts). With memory enforced (clean+ram) also: the fewest hosts whose
 * RAM holds every VM are on, each drawing at least the lowest idle watts, plus every MIPS at the
 * lowest watts per MIPS of any step of any type's power curve; the larger of the two.
 */
export function fluidBound(o: BoundOptions): BoundResult {
  const s = setup(o);
  const kinds = [...new Set(s.hostTypes)];
  const best = Math.min(...kinds.map((t) => (t.power.table[10] as number) / (t.peMips * t.pes)));
  const maxCap = Math.max(...kinds.map((t) => t.peMips * t.pes));
  let memHosts = 0;
  if (o.mode === "clean+ram") {
    const ram = s.vmRam.reduce((a, b) => a + b, 0);
    const caps = s.hostTypes.map((t) => t.ramMb).sort((a, b) => b - a);
    for (let held = 0; held < ram && memHosts < caps.length; memHosts++) held += caps[memHosts] as number;
  }
  const minIdle = Math.min(...kinds.map((t) => t.power.table[0] as number));
  const minStep = Math.min(
    ...kinds.flatMap((t) => t.power.table.slice(1).map((w, k) => (w - (t.power.table[k] as number)) / (0.1 * t.peMips * t.pes))),
  );
  const demand = s.times.map((_, i) => {
    let d = 0;
    for (let v = 0; v < s.nVms; v++) d += s.demand(v, i);
    return d;
  });
  const power = demand.map((d) => Math.max(d * best, memHosts * minIdle + d * minStep));
  const minHosts = demand.map((d) => Math.max(Math.ceil(d / maxCap), memHosts));
  return boundResult(s.times, power, minHosts, o.integration ?? "trapezoid");
}

/**
 * First-fit decreasing at every instant over hosts ordered most-efficient first. CPU only
 * (a VM fits a host if its demand fits one PE and the host's free MIPS); with ramMb, VM RAM must
 * fit too and every VM (even idle) needs a host. With `lookahead`, a VM's demand is a vector (this
 * instant and the next ones), sorted by its largest entry, and must fit in every entry; power is of
 * this instant's load. A segment tree of each entry's largest free MIPS finds the first fitting
 * host: a subtree is searched only if every entry could fit in it, so 20,000 hosts stay cheap.
 */
export function ffdOracle(o: BoundOptions): BoundResult {
  const s = setup(o);
  const ram = o.mode === "clean+ram";
  const ahead = o.lookahead ?? 0;
  if (!Number.isInteger(ahead) || ahead < 0)
    throw new SimError(SimErrorCode.badOption, `lookahead must be a whole number >= 0 (got ${ahead})`);
  const D = ahead + 1;
  const H = s.hostOrder.length;
  const pe = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).peMips);
  const cap = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).peMips * (s.hostTypes[h] as HostType).pes);
  const ramCap = Float64Array.from(s.hostOrder, (h) => (s.hostTypes[h] as HostType).ramMb);
  let size = 1;
  while (size < H) size <<= 1;
  /** Node i, entry d at [i * D + d]: the largest free MIPS for entry d in the subtree. */
  const tree = new Float64Array(2 * size * D);
  const load = new Float64Array(H * D);
  const ramUsed = new Float64Array(H);
  const used = new Uint8Array(H);
  const x = new Float64Array(D);
  const leaf = (j: number, d: number) => Math.min((cap[j] as number) - (load[j * D + d] as number), pe[j] as number);
  const set = (j: number) => {
    let i = size + j;
    for (let d = 0; d < D; d++) tree[i * D + d] = leaf(j, d);
    for (i >>= 1; i >= 1; i >>= 1)
      for (let d = 0; d < D; d++) tree[i * D + d] = Math.max(tree[2 * i * D + d] as number, tree[(2 * i + 1) * D + d] as number);
  };
  const room = (i: number) => {
    for (let d = 0; d < D; d++) if ((tree[i * D + d] as number) < (x[d] as number)) return false;
    return true;
  };
  /** Leftmost leaf that fits x in every entry, depth first (with one entry it never backtracks). */
  const firstFit = (): number => {
    if (!room(1)) return -1;
    let i = 1;
    for (;;) {
      if (i >= size) return i - size;
      if (room(2 * i)) i = 2 * i;
      else if (room(2 * i + 1)) i = 2 * i + 1;
      else {
        // Neither child fits every entry: go on at the nearest subtree to the right that might.
        for (;;) {
          if (i === 1) return -1;
          if ((i & 1) === 0 && room(i + 1)) break;
          i >>= 1;
        }
        i += 1;
      }
    }
  };
  const power: number[] = [];
  const counts: number[] = [];
  const order = new Int32Array(s.nVms);
  const demand = new Float64Array(s.nVms * D);
  const key = new Float64Array(s.nVms);
  const last = s.times.length - 1;
  for (let i = 0; i < s.times.length; i++) {
    load.fill(0);
    ramUsed.fill(0);
    used.fill(0);
    tree.fill(-1);
    for (let j = 0; j < H; j++) set(j);
    for (let v = 0; v < s.nVms; v++) {
      let k = 0;
      for (let d = 0; d < D; d++) {
        const y = s.demand(v, Math.min(i + d, last));
        demand[v * D + d] = y;
        k = Math.max(k, y);
      }
      key[v] = k;
      order[v] = v;
    }
    order.sort((a, b) => (key[b] as number) - (key[a] as number) || a - b);
    for (const v of order) {
      for (let d = 0; d < D; d++) x[d] = demand[v * D + d] as number;
      let j = -1;
      if (!ram) {
        if ((key[v] as number) <= 0) continue;
        j = firstFit();
        if (j < 0) continue; // demand beyond the cluster: unserved in the oracle too
      } else {
        const r = s.vmRam[v] as number;
        for (let h = 0; h < H && j < 0; h++) if ((ramUsed[h] as number) + r <= (ramCap[h] as number) && room(size + h)) j = h;
        if (j < 0) continue;
        ramUsed[j] = (ramUsed[j] as number) + r;
      }
      for (let d = 0; d < D; d++) load[j * D + d] = (load[j * D + d] as number) + (x[d] as number);
      used[j] = 1;
      set(j);
    }
    let p = 0;
    let c = 0;
    for (let j = 0; j < H; j++) {
      if (!used[j]) continue;
      c++;
      const t = s.hostTypes[s.hostOrder[j] as number] as HostType;
      p += powerAt(t.power, Math.min(1, (load[j * D] as number) / (t.peMips * t.pes)));
    }
    power.push(p);
    counts.push(c);
  }
  return boundResult(s.times, power, counts, o.integration ?? "trapezoid");
}
