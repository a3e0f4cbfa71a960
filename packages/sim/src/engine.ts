// The datacenter state and its time-stepped update, copying CloudSim 3.0's PowerDatacenter /
// HostDynamicWorkload / VmSchedulerTimeSharedOverSubscription where the quirk switches say so.
// Hot state lives in typed arrays indexed by host id and VM id; a host's VM list is a small
// ordered JS array because list order decides ties (MMT picks the first smallest VM).
import { powerAt, migrationSeconds } from "./power.js";
import type { HostType, VmType } from "./power.js";
import type { Quirks } from "./quirks.js";
import type { Workload } from "./traces.js";

export const historyLength = 30;

export interface DatacenterSpec {
  readonly workload: Workload;
  readonly hostTypes: readonly HostType[];
  /** Type index per host. */
  readonly hostType: Uint8Array;
  readonly vmTypes: readonly VmType[];
  /** Type index per VM. */
  readonly vmType: Uint8Array;
  readonly quirks: Quirks;
  /** clean+ram: RAM binds after creation. */
  readonly enforceRam: boolean;
  /** Seconds a woken (empty, off) host needs before it accepts a VM; 0 = instant. */
  readonly bootSeconds: number;
  /** "non-power-aware": every host draws P(1) all the time (CloudSim's NPA datacenter). */
  readonly accounting: "power-aware" | "non-power-aware";
}

export class Datacenter {
  readonly nHosts: number;
  readonly nVms: number;
  readonly q: Quirks;
  readonly spec: DatacenterSpec;
  readonly hostTotalMips: Float64Array;
  readonly hostPeMips: Float64Array;
  readonly hostRamMb: Float64Array;
  readonly hostBwKbps: Float64Array;
  readonly hostModel: HostType[];
  readonly vmMips: Float64Array;
  readonly vmRamMb: Float64Array;
  readonly vmBwKbps: Float64Array;

  /** Current host of a VM (CloudSim's vmTable), -1 before placement or after removal (Q1). */
  readonly vmHost: Int32Array;
  readonly vmRemoved: Uint8Array;
  /** Requested MIPS at the last update (uncapped). */
  readonly vmReq: Float64Array;
  readonly vmReqTime: Float64Array;
  readonly vmInMigration: Uint8Array;
  /** Utilisation history, newest first: vm i entry j at [i * historyLength + j]. */
  readonly vmHist: Float64Array;
  readonly vmHistLen: Uint8Array;
  readonly vmHistTime: Float64Array;

  /** VMs listed on a host, in CloudSim list order (includes VMs migrating in). */
  readonly hostVms: number[][];
  readonly hostMigIn: number[][];
  readonly hostUtilMips: Float64Array;
  readonly hostPrevUtilMips: Float64Array;
  /** Host drew power after its last update (holds a VM, or is booting). */
  readonly hostOn: Uint8Array;
  /** Explicitly powered on (Drover's wake/power-off steps); baselines leave it 0: empty = off. */
  readonly hostPowered: Uint8Array;
  readonly hostBootUntil: Float64Array;
  /** Completion time of a VM's last migration (-1 none) and the host it left. */
  readonly vmLastMigration: Float64Array;
  readonly vmPrevHost: Int32Array;

  energyJ = 0;
  migrations = 0;
  removedVms = 0;
  anomalies = 0;
  lastProcessTime = 0;

  // SLA bookkeeping: the pending (last) state entry per host and VM, integrated when the next
  // entry at a later time arrives (an entry at the same time replaces it, as in CloudSim).
  private readonly hsTime: Float64Array;
  private readonly hsViolated: Uint8Array;
  private readonly hsActive: Uint8Array;
  readonly hostActiveTime: Float64Array;
  readonly hostViolationTime: Float64Array;
  private readonly vsTime: Float64Array;
  private readonly vsAlloc: Float64Array;
  private readonly vsReq: Float64Array;
  private readonly vsMig: Uint8Array;
  readonly vmRequestedInt: Float64Array;
  readonly vmAllocatedInt: Float64Array;
  readonly vmMigrationLossInt: Float64Array;

  private scratchAlloc = new Float64Array(64);
  private onBefore: Uint8Array;

  constructor(spec: DatacenterSpec) {
    this.spec = spec;
    this.q = spec.quirks;
    const nH = spec.hostType.length;
    const nV = spec.vmType.length;
    this.nHosts = nH;
    this.nVms = nV;
    this.hostTotalMips = new Float64Array(nH);
    this.hostPeMips = new Float64Array(nH);
    this.hostRamMb = new Float64Array(nH);
    this.hostBwKbps = new Float64Array(nH);
    this.hostModel = [];
    for (let h = 0; h < nH; h++) {
      const t = spec.hostTypes[spec.hostType[h] as number] as HostType;
      this.hostModel.push(t);
      this.hostPeMips[h] = t.peMips;
      this.hostTotalMips[h] = t.peMips * t.pes;
      this.hostRamMb[h] = t.ramMb;
      this.hostBwKbps[h] = t.bwKbps;
    }
    this.vmMips = new Float64Array(nV);
    this.vmRamMb = new Float64Array(nV);
    this.vmBwKbps = new Float64Array(nV);
    for (let v = 0; v < nV; v++) {
      const t = spec.vmTypes[spec.vmType[v] as number] as VmType;
      this.vmMips[v] = t.mips;
      this.vmRamMb[v] = t.ramMb;
      this.vmBwKbps[v] = t.bwKbps;
    }
    this.vmHost = new Int32Array(nV).fill(-1);
    this.vmRemoved = new Uint8Array(nV);
    this.vmReq = new Float64Array(nV);
    this.vmReqTime = new Float64Array(nV).fill(-1);
    this.vmInMigration = new Uint8Array(nV);
    this.vmHist = new Float64Array(nV * historyLength);
    this.vmHistLen = new Uint8Array(nV);
    this.vmHistTime = new Float64Array(nV).fill(-1);
    this.hostVms = Array.from({ length: nH }, () => []);
    this.hostMigIn = Array.from({ length: nH }, () => []);
    this.hostUtilMips = new Float64Array(nH);
    this.hostPrevUtilMips = new Float64Array(nH);
    this.hostOn = new Uint8Array(nH);
    this.hostPowered = new Uint8Array(nH);
    this.hostBootUntil = new Float64Array(nH).fill(-1);
    this.vmLastMigration = new Float64Array(nV).fill(-1);
    this.vmPrevHost = new Int32Array(nV).fill(-1);
    this.hsTime = new Float64Array(nH).fill(-1);
    this.hsViolated = new Uint8Array(nH);
    this.hsActive = new Uint8Array(nH);
    this.hostActiveTime = new Float64Array(nH);
    this.hostViolationTime = new Float64Array(nH);
    this.vsTime = new Float64Array(nV).fill(-1);
    this.vsAlloc = new Float64Array(nV);
    this.vsReq = new Float64Array(nV);
    this.vsMig = new Uint8Array(nV);
    this.vmRequestedInt = new Float64Array(nV);
    this.vmAllocatedInt = new Float64Array(nV);
    this.vmMigrationLossInt = new Float64Array(nV);
    this.onBefore = new Uint8Array(nH);
  }

  /** UtilizationModelPlanetLabInMemory.getUtilization, operation for operation. */
  utilisationAt(v: number, t: number): number {
    const w = this.spec.workload;
    const I = w.intervalSeconds;
    const base = v * w.stride;
    if (t % I === 0) return w.data[base + Math.trunc(Math.trunc(t) / I)] as number;
    const t1 = Math.floor(t / I);
    const t2 = Math.min(Math.ceil(t / I), w.stride - 1);
    const u1 = w.data[base + t1] as number;
    const u2 = w.data[base + t2] as number;
    if (t2 === t1) return u1;
    const delta = (u2 - u1) / ((t2 - t1) * I);
    return u1 + delta * (t - t1 * I);
  }

  /** Host power at a utilisation fraction (clamped to 1 just above 1, as CloudSim). */
  hostPower(h: number, u: number): number {
    const c = u > 1 && u < 1.01 ? 1 : u;
    const p = powerAt((this.hostModel[h] as HostType).power, c);
    if (Number.isNaN(p)) {
      this.anomalies++;
      return powerAt((this.hostModel[h] as HostType).power, Math.min(1, Math.max(0, c)));
    }
    return p;
  }

  hostUtilisation(h: number): number {
    const u = (this.hostUtilMips[h] as number) / (this.hostTotalMips[h] as number);
    return u > 1 && u < 1.01 ? 1 : u;
  }

  migrationSeconds(v: number, target: number): number {
    return migrationSeconds(this.vmRamMb[v] as number, this.hostBwKbps[target] as number);
  }

  /** Request (and, on round times, history) of a VM at t: Vm.updateVmProcessing. */
  private refreshVm(v: number, t: number, round: boolean): void {
    if (this.vmReqTime[v] !== t) {
      this.vmReqTime[v] = t;
      this.vmReq[v] = this.utilisationAt(v, t) * (this.vmMips[v] as number);
    }
    if (round && t > (this.vmHistTime[v] as number)) {
      this.vmHistTime[v] = t;
      const base = v * historyLength;
      this.vmHist.copyWithin(base + 1, base, base + historyLength - 1);
      this.vmHist[base] = this.utilisationAt(v, t);
      if ((this.vmHistLen[v] as number) < historyLength) this.vmHistLen[v] = (this.vmHistLen[v] as number) + 1;
    }
  }

  /** Sets a VM's request to its full MIPS (CloudSim's "being instantiated" at t=0). */
  setInstantiating(v: number): void {
    this.vmReq[v] = this.vmMips[v] as number;
    this.vmReqTime[v] = -1;
  }

  /** Sets requests (and t=0 history in clean mode) before a clean initial placement. */
  primeRequests(t: number, round: boolean): void {
    for (let v = 0; v < this.nVms; v++) this.refreshVm(v, t, round);
  }

  /** HostDynamicWorkload.updateVmsProcessing for one host. */
  updateHost(h: number, t: number, round: boolean): void {
    this.hostPrevUtilMips[h] = this.hostUtilMips[h] as number;
    const list = this.hostVms[h] as number[];
    const migIn = this.hostMigIn[h] as number[];
    const n = list.length;
    for (let i = 0; i < n; i++) this.refreshVm(list[i] as number, t, round);
    if (this.scratchAlloc.length < n) this.scratchAlloc = new Float64Array(n * 2);
    const alloc = this.scratchAlloc;
    const pe = this.hostPeMips[h] as number;
    const total = this.hostTotalMips[h] as number;
    // VmSchedulerTimeSharedOverSubscription: allocate in list order while it fits, else scale
    // every request by total/sum and floor it. Q12: a request is capped at one PE.
    let avail = total;
    let over = false;
    for (let i = 0; i < n; i++) {
      const v = list[i] as number;
      const r = this.vmReq[v] as number;
      const c = r > pe ? pe : r;
      const isIn = migIn.length > 0 && migIn.includes(v);
      const eff = isIn ? c * 0.1 : c;
      if (!over && avail >= eff) {
        alloc[i] = this.vmInMigration[v] && !isIn ? c * 0.9 : isIn ? c * 0.1 : c;
        avail -= eff;
      } else over = true;
    }
    if (over) {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const v = list[i] as number;
        const r = this.vmReq[v] as number;
        const c = r > pe ? pe : r;
        sum += migIn.length > 0 && migIn.includes(v) ? c * 0.1 : c;
      }
      const s = total / sum;
      for (let i = 0; i < n; i++) {
        const v = list[i] as number;
        const r = this.vmReq[v] as number;
        const c = r > pe ? pe : r;
        const isIn = migIn.length > 0 && migIn.includes(v);
        alloc[i] = Math.floor(this.vmInMigration[v] && !isIn ? c * s * 0.9 : isIn ? c * 0.1 * s : c * s);
      }
    }
    let util = 0;
    let hostReq = 0;
    let ownAlloc = 0;
    let ownReq = 0;
    for (let i = 0; i < n; i++) {
      const v = list[i] as number;
      let a = alloc[i] as number;
      const r = this.vmReq[v] as number;
      const isIn = migIn.length > 0 && migIn.includes(v);
      if (!isIn) {
        const out = this.vmInMigration[v] === 1;
        this.vmEntry(v, t, a, r, out);
        if (out) a /= 0.9;
        ownAlloc += a;
        ownReq += r;
      }
      util += a;
      hostReq += r;
    }
    this.hostUtilMips[h] = util;
    const booting = (this.hostBootUntil[h] as number) > t;
    this.hostOn[h] = n > 0 || booting || this.hostPowered[h] ? 1 : 0;
    if (this.q.q4TargetSlaArtefact) {
      this.hostEntry(h, t, util < hostReq, util > 0);
    } else {
      // Only the host's own VMs count, and a shortfall below 1e-6 MIPS is float noise
      // (x * 0.9 / 0.9 is not always x).
      this.hostEntry(h, t, ownAlloc + 1e-6 < ownReq, n > 0);
    }
  }

  private hostEntry(h: number, t: number, violated: boolean, active: boolean): void {
    const prev = this.hsTime[h] as number;
    if (prev !== t) {
      if (prev >= 0 && this.hsActive[h]) {
        const dt = t - prev;
        this.hostActiveTime[h] = (this.hostActiveTime[h] as number) + dt;
        if (this.hsViolated[h]) this.hostViolationTime[h] = (this.hostViolationTime[h] as number) + dt;
      }
      this.hsTime[h] = t;
    }
    this.hsViolated[h] = violated ? 1 : 0;
    this.hsActive[h] = active ? 1 : 0;
  }

  private vmEntry(v: number, t: number, alloc: number, req: number, inMigration: boolean): void {
    const prev = this.vsTime[v] as number;
    if (prev !== t) {
      if (prev >= 0) {
        const dt = t - prev;
        const pa = this.vsAlloc[v] as number;
        const pr = this.vsReq[v] as number;
        this.vmAllocatedInt[v] = (this.vmAllocatedInt[v] as number) + pa * dt;
        this.vmRequestedInt[v] = (this.vmRequestedInt[v] as number) + pr * dt;
        if (pa < pr && this.vsMig[v]) this.vmMigrationLossInt[v] = (this.vmMigrationLossInt[v] as number) + (pr - pa) * dt;
      }
      this.vsTime[v] = t;
    }
    this.vsAlloc[v] = alloc;
    this.vsReq[v] = req;
    this.vsMig[v] = inMigration ? 1 : 0;
  }

  /**
   * PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce: update every
   * host, integrate energy over [lastProcessTime, t], then remove idle VMs (Q1).
   */
  update(t: number, round: boolean): void {
    const dt = t - this.lastProcessTime;
    const nH = this.nHosts;
    this.onBefore.set(this.hostOn);
    for (let h = 0; h < nH; h++) this.updateHost(h, t, round);
    if (dt > 0) {
      let frame = 0;
      if (this.spec.accounting === "non-power-aware") {
        for (let h = 0; h < nH; h++) frame += this.hostPower(h, 1) * dt;
      } else if (this.q.q6EnergyWindow) {
        // PowerHost.getEnergyLinearInterpolation: free if the interval starts at 0%.
        for (let h = 0; h < nH; h++) {
          const from = (this.hostPrevUtilMips[h] as number) / (this.hostTotalMips[h] as number);
          if (from === 0) continue;
          const fromP = this.hostPower(h, from);
          const toP = this.hostPower(h, this.hostUtilisation(h));
          frame += (fromP + (toP - fromP) / 2) * dt;
        }
      } else {
        for (let h = 0; h < nH; h++) {
          if (!this.onBefore[h]) continue;
          const fromP = this.hostPower(h, (this.hostPrevUtilMips[h] as number) / (this.hostTotalMips[h] as number));
          const toP = this.hostPower(h, this.hostUtilisation(h));
          frame += (fromP + (toP - fromP) / 2) * dt;
        }
      }
      this.energyJ += frame;
    }
    if (this.q.q1RemoveIdleVms) {
      for (let h = 0; h < nH; h++) {
        const list = this.hostVms[h] as number[];
        for (let i = list.length - 1; i >= 0; i--) {
          const v = list[i] as number;
          if (!this.vmInMigration[v] && this.vmReq[v] === 0) this.removeVm(v);
        }
      }
    }
    this.lastProcessTime = t;
  }

  private removeVm(v: number): void {
    const h = this.vmHost[v] as number;
    if (h >= 0) removeFrom(this.hostVms[h] as number[], v);
    this.vmHost[v] = -1;
    this.vmRemoved[v] = 1;
    this.removedVms++;
  }

  /** Places a VM at creation (no update: CloudSim updates hosts first at the first round). */
  place(v: number, h: number): void {
    (this.hostVms[h] as number[]).push(v);
    this.vmHost[v] = h;
  }

  /** Host.addMigratingInVm: the VM is listed on the target at 10% and runs at 90% on the source. */
  startMigration(v: number, target: number, t: number, round: boolean): void {
    this.vmInMigration[v] = 1;
    const migIn = this.hostMigIn[target] as number[];
    if (!migIn.includes(v)) {
      migIn.push(v);
      (this.hostVms[target] as number[]).push(v);
      this.updateHost(target, t, round);
      const src = this.vmHost[v] as number;
      if (src >= 0) this.updateHost(src, t, round);
    }
    this.migrations++;
  }

  /** Datacenter.processVmMigrate without the updates around it. */
  completeMigration(v: number, target: number, t: number): void {
    const src = this.vmHost[v] as number;
    if (src >= 0) removeFrom(this.hostVms[src] as number[], v);
    this.vmLastMigration[v] = t;
    this.vmPrevHost[v] = src;
    removeFrom(this.hostMigIn[target] as number[], v);
    removeFrom(this.hostVms[target] as number[], v);
    this.vmInMigration[v] = 0;
    (this.hostVms[target] as number[]).push(v);
    this.vmHost[v] = target;
  }

  /** Closes every pending state entry at t (clean mode: the end of the day). */
  closeEntries(t: number): void {
    for (let h = 0; h < this.nHosts; h++)
      if ((this.hsTime[h] as number) >= 0 && (this.hsTime[h] as number) < t) this.hostEntry(h, t, false, false);
    for (let v = 0; v < this.nVms; v++) {
      if ((this.vsTime[v] as number) >= 0 && (this.vsTime[v] as number) < t && !this.vmRemoved[v]) this.vmEntry(v, t, 0, 0, false);
    }
  }

  activeHosts(): number {
    let n = 0;
    for (let h = 0; h < this.nHosts; h++) if (this.q.q6EnergyWindow ? (this.hostUtilMips[h] as number) > 0 : this.hostOn[h]) n++;
    return n;
  }

  inFlightMigrations(): number {
    let n = 0;
    for (let v = 0; v < this.nVms; v++) n += this.vmInMigration[v] as number;
    return n;
  }
}

export function removeFrom(list: number[], v: number): void {
  const i = list.indexOf(v);
  if (i >= 0) list.splice(i, 1);
}
