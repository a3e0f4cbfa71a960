// The reference's baselines: first-fit placement (NPA, DVFS) and the migration policies
// THR/IQR/MAD/LR/LRR with MMT selection and PABFD placement, following
// PowerVmAllocationPolicyMigrationAbstract of CloudSim 3.0. They plan on a tentative copy of
// the VM lists (CloudSim's vmCreate/vmDestroy followed by restoreAllocation).
import { historyLength } from "./engine.js";
import type { Datacenter } from "./engine.js";
import { fallbackThreshold, isOverloaded, lrPredictionCoefficients, trimZeroTail } from "./detectors.js";
import type { DetectorSpec } from "./detectors.js";

export interface MigrationOrder {
  readonly vm: number;
  readonly host: number;
  /** Indices (in the round's migration list) of migrations that must complete first. */
  readonly after?: readonly number[];
}

/** What a policy asks for in one round. Everything starts at the round time unless it waits. */
export interface RoundPlan {
  readonly migrations: readonly MigrationOrder[];
  /** Hosts to power on (they boot for bootSeconds in clean+ram). */
  readonly wake?: readonly number[];
  /** Hosts to power off once the listed migrations have completed (they must be empty then). */
  readonly powerOff?: readonly { readonly host: number; readonly after: readonly number[] }[];
}

/** A policy as the simulator drives it: place at t=0, then plan each round. */
export interface SimPolicy {
  readonly name: string;
  /** "non-power-aware": the NPA datacenter (every host at full power). */
  readonly accounting?: "non-power-aware";
  place(dc: Datacenter): void;
  /** The round's plan; absent for policies that never migrate. */
  optimize?(dc: Datacenter, t: number, round: number): RoundPlan;
  /**
   * Plans again, once per round, when the hosts the round's plan woke are up and its moves are
   * done (Drover's scheduler brings its next plan forward when a host it woke reports healthy).
   */
  readonly replansOnWake?: boolean;
}

/** Tentative allocation: per-host VM lists plus the aggregates the checks need, kept exact. */
class Tentative {
  readonly W: number[][];
  readonly avail: Float64Array;
  readonly capSum: Float64Array;
  readonly reqSum: Float64Array;
  readonly predSum: Float64Array;
  readonly lnzMax: Int32Array;
  readonly ramSum: Float64Array;
  readonly bwSum: Float64Array;
  readonly maxRam: Float64Array;

  constructor(
    private readonly dc: Datacenter,
    private readonly vmPred: Float64Array,
    private readonly vmLnz: Int32Array,
  ) {
    const n = dc.nHosts;
    this.W = dc.hostVms.map((l) => l.slice());
    this.avail = new Float64Array(n);
    this.capSum = new Float64Array(n);
    this.reqSum = new Float64Array(n);
    this.predSum = new Float64Array(n);
    this.lnzMax = new Int32Array(n);
    this.ramSum = new Float64Array(n);
    this.bwSum = new Float64Array(n);
    this.maxRam = new Float64Array(n);
    for (let h = 0; h < n; h++) this.refresh(h);
  }

  /** Recomputes host h's aggregates in list order (the order CloudSim sums in). */
  refresh(h: number): void {
    const dc = this.dc;
    const list = this.W[h] as number[];
    const pe = dc.hostPeMips[h] as number;
    let avail = dc.hostTotalMips[h] as number;
    let over = false;
    let cap = 0,
      req = 0,
      pred = 0,
      ram = 0,
      bw = 0,
      maxRam = 0;
    let lnz = -1;
    for (const v of list) {
      const r = dc.vmReq[v] as number;
      const c = r > pe ? pe : r;
      if (!over && avail >= c) avail -= c;
      else over = true;
      cap += c;
      req += r;
      pred += (this.vmPred[v] as number) * (dc.vmMips[v] as number);
      const l = this.vmLnz[v] as number;
      if (l > lnz) lnz = l;
      ram += dc.vmRamMb[v] as number;
      bw += dc.vmBwKbps[v] as number;
      if ((dc.vmRamMb[v] as number) > maxRam) maxRam = dc.vmRamMb[v] as number;
    }
    this.avail[h] = over ? 0 : avail;
    this.capSum[h] = cap;
    this.reqSum[h] = req;
    this.predSum[h] = pred;
    this.lnzMax[h] = lnz;
    this.ramSum[h] = ram;
    this.bwSum[h] = bw;
    this.maxRam[h] = maxRam;
  }

  add(h: number, v: number): void {
    (this.W[h] as number[]).push(v);
    this.refresh(h);
  }

  remove(h: number, v: number): void {
    const l = this.W[h] as number[];
    const i = l.indexOf(v);
    if (i >= 0) l.splice(i, 1);
    this.refresh(h);
  }
}

export interface PabfdOptions {
  readonly detector: DetectorSpec;
  /** Creation-time checks of RAM and BW (t=0, or always in clean+ram). */
  readonly name?: string;
}

/**
 * MMT selection + PABFD placement + underload consolidation, for any detector. Compat quirks
 * Q3, Q7, Q8 are read from dc.q; with them off this is the "clean" variant of the same policy.
 */
export class PabfdPolicy implements SimPolicy {
  readonly name: string;
  private readonly detector: DetectorSpec;
  private vmPred = new Float64Array(0);
  private vmLnz = new Int32Array(0);
  private readonly gByM = new Map<number, Float64Array>();
  private t!: Tentative;
  private dc!: Datacenter;
  private creation = false;

  constructor(opts: PabfdOptions) {
    this.detector = opts.detector;
    this.name = opts.name ?? `${opts.detector.kind}-mmt-${opts.detector.parameter}`;
  }

  private coefficients(m: number): Float64Array {
    let g = this.gByM.get(m);
    if (!g) {
      g = lrPredictionCoefficients(m, this.dc.q.q10LrWeighting);
      this.gByM.set(m, g);
    }
    return g;
  }

  /** Per-VM LR terms and last non-zero history index, once per round (histories change only then). */
  private prepare(dc: Datacenter): void {
    this.dc = dc;
    if (this.vmPred.length !== dc.nVms) {
      this.vmPred = new Float64Array(dc.nVms);
      this.vmLnz = new Int32Array(dc.nVms);
    }
    const g = this.coefficients(1);
    for (let v = 0; v < dc.nVms; v++) {
      const base = v * historyLength;
      const len = dc.vmHistLen[v] as number;
      let p = 0;
      for (let i = 0; i < 10 && i < len; i++) p += (g[i] as number) * (dc.vmHist[base + i] as number);
      this.vmPred[v] = p;
      let lnz = -1;
      for (let i = len - 1; i >= 0; i--) {
        if (dc.vmHist[base + i] !== 0) {
          lnz = i;
          break;
        }
      }
      this.vmLnz[v] = lnz;
    }
    this.t = new Tentative(dc, this.vmPred, this.vmLnz);
  }

  /** Synthetic host history (Q11): sum of the VMs' histories weighted by MIPS share. */
  private hostHistory(h: number, extra: number): number[] {
    const dc = this.dc;
    const hist = new Array<number>(historyLength).fill(0);
    const total = dc.hostTotalMips[h] as number;
    const add = (v: number) => {
      const base = v * historyLength;
      const len = dc.vmHistLen[v] as number;
      for (let i = 0; i < len; i++) hist[i] = (hist[i] as number) + ((dc.vmHist[base + i] as number) * (dc.vmMips[v] as number)) / total;
    };
    for (const v of this.t.W[h] as number[]) add(v);
    if (extra >= 0) add(extra);
    return trimZeroTail(hist);
  }

  /** isHostOverUtilized on the tentative list of h, plus VM extra if >= 0. */
  private isOver(h: number, extra: number): boolean {
    const dc = this.dc;
    const t = this.t;
    const total = dc.hostTotalMips[h] as number;
    const req = extra >= 0 ? (t.reqSum[h] as number) + (dc.vmReq[extra] as number) : (t.reqSum[h] as number);
    const frac = req / total;
    const d = this.detector;
    if (d.kind === "thr") return frac > d.parameter;
    if (d.kind === "lr") {
      const lnz = Math.max(t.lnzMax[h] as number, extra >= 0 ? (this.vmLnz[extra] as number) : -1);
      if (lnz + 1 < 10) return frac > fallbackThreshold;
      const maxRam = Math.max(t.maxRam[h] as number, extra >= 0 ? (dc.vmRamMb[extra] as number) : 0);
      const m = Math.ceil(maxRam / ((dc.hostBwKbps[h] as number) / (2 * 8000)) / dc.spec.workload.intervalSeconds);
      let pred: number;
      if (m === 1) {
        const s =
          extra >= 0 ? (t.predSum[h] as number) + (this.vmPred[extra] as number) * (dc.vmMips[extra] as number) : (t.predSum[h] as number);
        pred = s / total;
      } else {
        const g = this.coefficients(m);
        const hist = this.hostHistory(h, extra);
        pred = 0;
        for (let i = 0; i < 10; i++) pred += (g[i] as number) * (hist[i] ?? 0);
      }
      return d.parameter * pred >= 1;
    }
    const hist = this.hostHistory(h, extra);
    const maxRam = Math.max(t.maxRam[h] as number, extra >= 0 ? (dc.vmRamMb[extra] as number) : 0);
    const m = Math.ceil(maxRam / ((dc.hostBwKbps[h] as number) / (2 * 8000)) / dc.spec.workload.intervalSeconds);
    return isOverloaded(d, frac, hist, m, dc.q.q10LrWeighting);
  }

  private suitable(h: number, v: number): boolean {
    const dc = this.dc;
    const t = this.t;
    const r = dc.vmReq[v] as number;
    if ((dc.hostPeMips[h] as number) < r || (t.avail[h] as number) < r) return false;
    const ramBinds = this.creation || !dc.q.q2RamOnlyAtCreation;
    if (ramBinds && (dc.hostRamMb[h] as number) - (t.ramSum[h] as number) < (dc.vmRamMb[v] as number)) return false;
    if (this.creation && (dc.hostBwKbps[h] as number) - (t.bwSum[h] as number) < (dc.vmBwKbps[v] as number)) return false;
    return true;
  }

  /** findHostForVm: least power increase; ties to the lowest id. */
  private findHost(v: number, excluded: Uint8Array): number {
    const dc = this.dc;
    const t = this.t;
    const q = dc.q;
    const r = dc.vmReq[v] as number;
    let best = -1;
    let minPower = Number.MAX_VALUE;
    for (let h = 0; h < dc.nHosts; h++) {
      if (excluded[h]) continue;
      if (!this.suitable(h, v)) continue;
      const total = dc.hostTotalMips[h] as number;
      // Q3: CloudSim 3.0 reads the utilisation snapshot of the last update (0 for all at t=0).
      const used = q.q3StaleUtilisation ? (this.creation ? 0 : (dc.hostUtilMips[h] as number)) : (t.capSum[h] as number);
      const nonEmpty = q.q3StaleUtilisation ? used !== 0 : (t.W[h] as number[]).length > 0;
      if (nonEmpty && this.isOver(h, v)) continue;
      const after = (used + r) / total;
      if (after > 1) {
        // CloudSim aborts here; only compat counts it (clean keeps zero-demand VMs, which fit
        // anywhere, even on an oversubscribed host: skipping that host is the sane reading).
        if (q.q3StaleUtilisation) dc.anomalies++;
        continue;
      }
      const pAfter = dc.hostPower(h, after);
      // Q7: an off host scores P(0) as its current power, so waking it looks free.
      const pNow = q.q7FreeWake || nonEmpty || dc.hostOn[h] ? dc.hostPower(h, used / total) : 0;
      const diff = pAfter - pNow;
      if (diff < minPower) {
        minPower = diff;
        best = h;
      }
    }
    return best;
  }

  private sortByDemand(vms: number[]): number[] {
    const req = this.dc.vmReq;
    return vms.sort((a, b) => (req[b] as number) - (req[a] as number));
  }

  place(dc: Datacenter): void {
    this.prepare(dc);
    this.creation = true;
    const none = new Uint8Array(dc.nHosts);
    for (let v = 0; v < dc.nVms; v++) {
      const h = this.findHost(v, none);
      if (h < 0) continue;
      this.t.add(h, v);
      dc.place(v, h);
    }
    this.creation = false;
  }

  optimize(dc: Datacenter): RoundPlan {
    this.prepare(dc);
    const t = this.t;
    const q = dc.q;
    const nH = dc.nHosts;
    const overloaded: number[] = [];
    for (let h = 0; h < nH; h++) if (this.isOver(h, -1)) overloaded.push(h);

    // Overload step: MMT picks the smallest-RAM VM (first in list on ties) until not overloaded.
    const toMigrate: number[] = [];
    for (const h of overloaded) {
      for (;;) {
        let pick = -1;
        let minRam = Number.MAX_VALUE;
        for (const v of t.W[h] as number[]) {
          if (dc.vmInMigration[v]) continue;
          if ((dc.vmRamMb[v] as number) < minRam) {
            minRam = dc.vmRamMb[v] as number;
            pick = v;
          }
        }
        if (pick < 0) break;
        toMigrate.push(pick);
        t.remove(h, pick);
        if (!this.isOver(h, -1)) break;
      }
    }
    const excludedDst = new Uint8Array(nH);
    for (const h of overloaded) excludedDst[h] = 1;
    const orders: MigrationOrder[] = [];
    for (const v of this.sortByDemand(toMigrate)) {
      const h = this.findHost(v, excludedDst);
      if (h < 0) continue;
      t.add(h, v);
      orders.push({ vm: v, host: h });
    }

    // Underload step: try to empty every active host, least utilised first.
    const excludedSrc = new Uint8Array(nH);
    const off = (h: number) => (q.q3StaleUtilisation ? dc.hostUtilisation(h) === 0 : (t.W[h] as number[]).length === 0);
    let nExcluded = 0;
    const exclude = (arr: Uint8Array, h: number) => {
      if (arr === excludedSrc && !arr[h]) nExcluded++;
      arr[h] = 1;
    };
    for (const h of overloaded) exclude(excludedSrc, h);
    for (let h = 0; h < nH; h++) {
      if (off(h)) {
        exclude(excludedSrc, h);
        excludedDst[h] = 1;
      }
    }
    // Q8 off: hosts that just received VMs from overloaded hosts are not emptied again.
    if (!q.q8DoubleMigration) for (const o of orders) exclude(excludedSrc, o.host);
    const utilOf = (h: number) =>
      q.q3StaleUtilisation ? dc.hostUtilisation(h) : (t.reqSum[h] as number) / (dc.hostTotalMips[h] as number);
    for (;;) {
      if (nExcluded === nH) break;
      let src = -1;
      let minU = 1;
      for (let h = 0; h < nH; h++) {
        if (excludedSrc[h]) continue;
        const u = utilOf(h);
        if (u > 0 && u < minU && (t.W[h] as number[]).length > 0) {
          minU = u;
          src = h;
        }
      }
      if (src < 0) break;
      exclude(excludedSrc, src);
      excludedDst[src] = 1;
      const vms = (t.W[src] as number[]).filter((v) => !dc.vmInMigration[v]);
      if (vms.length === 0) continue;
      const placed: MigrationOrder[] = [];
      let ok = true;
      for (const v of this.sortByDemand(vms)) {
        const h = this.findHost(v, excludedDst);
        if (h < 0) {
          ok = false;
          break;
        }
        t.add(h, v);
        placed.push({ vm: v, host: h });
      }
      if (!ok) {
        for (const p of placed) t.remove(p.host, p.vm);
        continue;
      }
      for (const p of placed) exclude(excludedSrc, p.host);
      orders.push(...placed);
    }
    return { migrations: orders };
  }
}

/** PowerVmAllocationPolicySimple: first host that fits, no migrations (NPA, DVFS). */
export class FirstFitPolicy implements SimPolicy {
  readonly name: string;
  readonly accounting?: "non-power-aware";
  constructor(name: string, accounting?: "non-power-aware") {
    this.name = name;
    if (accounting) this.accounting = accounting;
  }
  place(dc: Datacenter): void {
    firstFitPlace(dc);
  }
}

/**
 * First fit at creation: PE capacity, free MIPS, RAM and BW, hosts in id order. A VM's request at
 * creation must fit one PE (CloudSim); with `wholeCore`, its full MIPS must, as a VM whose CPU model
 * a host lacks never starts there, unless no host with room has such cores (then as CloudSim).
 */
export function firstFitPlace(dc: Datacenter, opts: { wholeCore?: boolean } = {}): void {
  const avail = Float64Array.from(dc.hostTotalMips);
  const ram = Float64Array.from(dc.hostRamMb);
  const bw = Float64Array.from(dc.hostBwKbps);
  /** The first host with room for VM v whose PE has at least `pe` MIPS, or -1. */
  const first = (v: number, r: number, pe: number): number => {
    for (let h = 0; h < dc.nHosts; h++) {
      if ((dc.hostPeMips[h] as number) < pe || (avail[h] as number) < r) continue;
      if ((ram[h] as number) < (dc.vmRamMb[v] as number) || (bw[h] as number) < (dc.vmBwKbps[v] as number)) continue;
      return h;
    }
    return -1;
  };
  for (let v = 0; v < dc.nVms; v++) {
    const r = dc.vmReq[v] as number;
    let h = opts.wholeCore === true ? first(v, r, Math.max(r, dc.vmMips[v] as number)) : -1;
    if (h < 0) h = first(v, r, r);
    if (h < 0) continue;
    const pe = dc.hostPeMips[h] as number;
    avail[h] = (avail[h] as number) - (r > pe ? pe : r);
    ram[h] = (ram[h] as number) - (dc.vmRamMb[v] as number);
    bw[h] = (bw[h] as number) - (dc.vmBwKbps[v] as number);
    dc.place(v, h);
  }
}
