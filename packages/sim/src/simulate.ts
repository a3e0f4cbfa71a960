// The simulation driver: CloudSim's event order (round update, plan, migration starts,
// completions each followed by a datacenter update) on the Datacenter of engine.ts.
import { Datacenter } from "./engine.js";
import { SimError, SimErrorCode } from "./errors.js";
import { referenceHostTypes, referenceVmTypeIndex, referenceVmTypes } from "./power.js";
import type { HostType, VmType } from "./power.js";
import { enforcesRam, quirksFor } from "./quirks.js";
import type { Mode } from "./quirks.js";
import type { RoundPlan, SimPolicy } from "./baselines.js";
import type { Workload } from "./traces.js";

export interface SimulationOptions {
  readonly workload: Workload;
  readonly policy: SimPolicy;
  readonly mode: Mode;
  /** Number of hosts (default 800); host i has type i % hostTypes.length. */
  readonly hosts?: number;
  readonly hostTypes?: readonly HostType[];
  readonly vmTypes?: readonly VmType[];
  /** Type of each host (index into hostTypes; default: host i has type i % hostTypes.length). */
  readonly hostTypeOf?: readonly number[];
  /** Type of each VM (index into vmTypes; default: the reference's assignment). */
  readonly vmTypeOf?: readonly number[];
  /** clean+ram: seconds a woken host takes to boot (default 60). */
  readonly bootSeconds?: number;
  /** Called after every round with (round, rounds). */
  readonly onRound?: (round: number, rounds: number) => void;
  /** Wall clock in ms; injected so tests can fake it (default performance.now). */
  readonly now?: () => number;
}

export interface SimulationResult {
  readonly policy: string;
  readonly mode: Mode;
  readonly hosts: number;
  readonly vms: number;
  readonly rounds: number;
  readonly energyKwh: number;
  /**
   * Energy drawn on the start placement before the policy's first plan (the first round): what
   * the start costs, which no policy choice changes.
   */
  readonly energyBeforeFirstPlanKwh: number;
  /** Fraction of active host time with a CPU shortfall. */
  readonly slatah: number;
  /** Performance degradation due to migrations (fraction of requested MIPS·s). */
  readonly pdm: number;
  readonly slav: number;
  readonly esv: number;
  readonly migrations: number;
  /** Fraction of requested MIPS·s not allocated, all causes. */
  readonly unserved: number;
  readonly activeHostsMean: number;
  readonly activeHostsMax: number;
  readonly decisionMsMean: number;
  readonly decisionMsMax: number;
  /** VMs removed by quirk Q1 (compat only). */
  readonly removedVms: number;
  /** Cases CloudSim would abort on (power model outside [0,1]); 0 in a sound run. */
  readonly anomalies: number;
  /** Power-off steps refused because the host still held a VM (must be 0). */
  readonly refusedPowerOffs: number;
  /**
   * The rounds during which a woken host was booting (clean+ram), on their own: their share of the
   * rounds, the share of demand left unserved in them, and their SLAV (SLATAH × PDM over them).
   */
  readonly wakeWindows: { readonly roundShare: number; readonly unserved: number; readonly slav: number };
}

interface SimEvent {
  time: number;
  seq: number;
  kind: "start" | "complete" | "power-off" | "plan";
  vm: number;
  host: number;
  /** A plan's round. */
  round?: number;
}

export function buildDatacenter(opts: SimulationOptions, accounting: "power-aware" | "non-power-aware"): Datacenter {
  const nHosts = opts.hosts ?? 800;
  if (!Number.isInteger(nHosts) || nHosts < 1)
    throw new SimError(SimErrorCode.badOption, `hosts must be a positive integer, got ${nHosts}`);
  const hostTypes = opts.hostTypes ?? referenceHostTypes;
  const vmTypes = opts.vmTypes ?? referenceVmTypes;
  const nVms = opts.workload.names.length;
  const hostType = new Uint8Array(nHosts).map((_, i) => opts.hostTypeOf?.[i] ?? i % hostTypes.length);
  const vmType = new Uint8Array(nVms).map((_, i) => opts.vmTypeOf?.[i] ?? Math.min(vmTypes.length - 1, referenceVmTypeIndex(i, nVms)));
  return new Datacenter({
    workload: opts.workload,
    hostTypes,
    hostType,
    vmTypes,
    vmType,
    quirks: quirksFor(opts.mode),
    enforceRam: enforcesRam(opts.mode),
    bootSeconds: opts.mode === "clean+ram" ? (opts.bootSeconds ?? 60) : 0,
    accounting,
  });
}

export function simulate(opts: SimulationOptions): SimulationResult {
  const policy = opts.policy;
  const dc = buildDatacenter(opts, policy.accounting ?? "power-aware");
  const q = dc.q;
  const w = opts.workload;
  const I = w.intervalSeconds;
  const limit = (w.stride - 1) * I;
  const now = opts.now ?? (() => performance.now());

  // Initial placement at t = 0.
  if (q.fullMipsAtCreation) for (let v = 0; v < dc.nVms; v++) dc.setInstantiating(v);
  else dc.primeRequests(0, true);
  policy.place(dc);
  for (let v = 0; v < dc.nVms; v++) {
    if ((dc.vmHost[v] as number) < 0)
      throw new SimError(SimErrorCode.invariant, `${policy.name}: VM ${w.names[v]} could not be placed at t=0`);
  }
  // Q6: CloudSim's first update is the first round (the cloudlets arrive at 0.1 s); the clean
  // engine starts the energy clock at 0.
  const offset = q.q6EnergyWindow ? 0.1 : 0;
  if (!q.q6EnergyWindow) dc.update(0, false);

  let queue: SimEvent[] = [];
  let seq = 0;
  const decisions: number[] = [];
  let activeSum = 0;
  let activeMax = 0;
  let energyBeforeFirstPlanKwh = 0;

  let refusedPowerOffs = 0;
  const powerOff = (h: number) => {
    // Invariant 1: never power off a host that still runs (or receives) a VM.
    if ((dc.hostVms[h] as number[]).length > 0) {
      refusedPowerOffs++;
      return;
    }
    dc.hostPowered[h] = 0;
    dc.hostBootUntil[h] = -1;
    dc.hostOn[h] = 0;
  };
  const schedule = (e: Omit<SimEvent, "seq">) => {
    queue.push({ ...e, seq: seq++ });
  };
  const bootAndWait = (h: number, t: number): number => {
    const boot = dc.spec.bootSeconds;
    if (boot > 0 && !dc.hostOn[h] && (dc.hostVms[h] as number[]).length === 0) {
      dc.hostBootUntil[h] = t + boot;
      dc.hostOn[h] = 1;
    }
    return Math.max(t, dc.hostBootUntil[h] as number);
  };
  /** Applies a plan at t; returns when its woken hosts are up and its moves done (t without either). */
  const applyPlan = (p: RoundPlan, t: number): number => {
    let settled = t;
    for (const h of p.wake ?? []) {
      if (!(h >= 0 && h < dc.nHosts)) throw new SimError(SimErrorCode.invariant, `${policy.name}: cannot wake host ${h}`);
      dc.hostPowered[h] = 1;
      settled = Math.max(settled, bootAndWait(h, t));
      dc.hostOn[h] = 1;
    }
    const ends: number[] = [];
    p.migrations.forEach((o, i) => {
      const v = o.vm;
      if (!(v >= 0 && v < dc.nVms) || !(o.host >= 0 && o.host < dc.nHosts) || dc.vmRemoved[v] || dc.vmHost[v] === o.host) {
        throw new SimError(SimErrorCode.invariant, `${policy.name}: invalid migration of VM ${v} to host ${o.host}`);
      }
      let at = bootAndWait(o.host, t);
      for (const d of o.after ?? []) at = Math.max(at, ends[d] ?? t);
      ends[i] = at + dc.migrationSeconds(v, o.host);
      settled = Math.max(settled, ends[i] as number);
      if (at > t) {
        schedule({ time: at, kind: "start", vm: v, host: o.host });
        return;
      }
      dc.startMigration(v, o.host, t, false);
      schedule({ time: ends[i] as number, kind: "complete", vm: v, host: o.host });
    });
    for (const off of p.powerOff ?? []) {
      let at = t;
      for (const d of off.after) at = Math.max(at, ends[d] ?? t);
      schedule({ time: at, kind: "power-off", vm: -1, host: off.host });
    }
    return settled;
  };
  // Events strictly before `until`, in (time, send order); each completion instant is
  // preceded by an update (if time moved) and followed by one (PowerDatacenter.processVmMigrate).
  const drain = (until: number) => {
    for (;;) {
      queue = queue.filter((e) => e.time <= limit);
      if (queue.length === 0) return;
      queue.sort((a, b) => a.time - b.time || a.seq - b.seq);
      const first = queue[0] as SimEvent;
      if (first.time >= until) return;
      const t = first.time;
      // Same instant: completions first, then starts, then power-offs (a host is empty only
      // once its departures have completed).
      const rank = { complete: 0, start: 1, "power-off": 2, plan: 3 } as const;
      const group = queue.filter((e) => e.time === t).sort((a, b) => rank[a.kind] - rank[b.kind] || a.seq - b.seq);
      queue = queue.filter((e) => e.time !== t);
      if (t > dc.lastProcessTime) dc.update(t, false);
      let completed = false;
      for (const e of group) {
        if (e.kind === "complete") {
          dc.completeMigration(e.vm, e.host, t);
          completed = true;
        } else if (e.kind === "power-off") {
          powerOff(e.host);
        } else if (e.kind === "plan") {
          plan(t, e.round ?? 0, false);
        } else {
          dc.startMigration(e.vm, e.host, t, false);
          schedule({ time: t + dc.migrationSeconds(e.vm, e.host), kind: "complete", vm: e.vm, host: e.host });
        }
      }
      if (completed) dc.update(t, false);
    }
  };

  // A round's plan, and (replansOnWake) one more once the hosts it woke are up and its moves done,
  // unless the next round comes first.
  const plan = (t: number, round: number, mayReplan: boolean) => {
    if (!policy.optimize) return;
    const t0 = now();
    const p = policy.optimize(dc, t, round);
    decisions.push(now() - t0);
    const settled = applyPlan(p, t);
    if (mayReplan && policy.replansOnWake === true && (p.wake ?? []).length > 0 && settled < t + I)
      schedule({ time: settled, kind: "plan", vm: -1, host: -1, round });
  };
  const roundTimes: number[] = [];
  for (let t = offset + I; t < limit; t += I) roundTimes.push(t);
  const rounds = roundTimes.length;
  const wake = new WakeWindows(dc);
  let prevT = offset;
  roundTimes.forEach((t, i) => {
    drain(t);
    dc.update(t, true);
    wake.round(prevT);
    prevT = t;
    if (i === 0) energyBeforeFirstPlanKwh = dc.energyJ / (3600 * 1000);
    const active = dc.activeHosts();
    activeSum += active;
    if (active > activeMax) activeMax = active;
    plan(t, i + 1, true);
    opts.onRound?.(i + 1, rounds);
  });
  drain(Number.POSITIVE_INFINITY);
  if (!q.q6EnergyWindow) {
    dc.update(limit, false);
    dc.closeEntries(limit);
  }
  return {
    ...summarise(dc, policy.name, opts.mode, rounds, decisions, activeSum, activeMax),
    energyBeforeFirstPlanKwh,
    refusedPowerOffs,
    wakeWindows: wake.result(rounds),
  };
}

/**
 * Accounting of the rounds in which some host was booting: the datacenter's cumulative counters are
 * read at each round, and a round's increments count here when a boot overlapped it.
 */
class WakeWindows {
  private last = { req: 0, alloc: 0, loss: 0, active: 0, viol: 0 };
  private sum = { req: 0, alloc: 0, loss: 0, active: 0, viol: 0 };
  private n = 0;
  constructor(private readonly dc: Datacenter) {}

  private totals(): WakeWindows["last"] {
    const dc = this.dc;
    const t = { req: 0, alloc: 0, loss: 0, active: 0, viol: 0 };
    for (let v = 0; v < dc.nVms; v++) {
      t.req += dc.vmRequestedInt[v] as number;
      t.alloc += dc.vmAllocatedInt[v] as number;
      t.loss += dc.vmMigrationLossInt[v] as number;
    }
    for (let h = 0; h < dc.nHosts; h++) {
      t.active += dc.hostActiveTime[h] as number;
      t.viol += dc.hostViolationTime[h] as number;
    }
    return t;
  }

  /** The round that began at `startT` has just been accounted. */
  round(startT: number): void {
    const now = this.totals();
    let booting = false;
    for (let h = 0; h < this.dc.nHosts && !booting; h++) booting = (this.dc.hostBootUntil[h] as number) > startT;
    if (booting) {
      this.n++;
      for (const k of ["req", "alloc", "loss", "active", "viol"] as const) this.sum[k] += now[k] - this.last[k];
    }
    this.last = now;
  }

  result(rounds: number): SimulationResult["wakeWindows"] {
    const { req, alloc, loss, active, viol } = this.sum;
    const slatah = active > 0 ? viol / active : 0;
    const pdm = req > 0 ? loss / req : 0;
    return { roundShare: rounds > 0 ? this.n / rounds : 0, unserved: req > 0 ? (req - alloc) / req : 0, slav: slatah * pdm };
  }
}

function summarise(
  dc: Datacenter,
  policy: string,
  mode: Mode,
  rounds: number,
  decisions: number[],
  activeSum: number,
  activeMax: number,
): Omit<SimulationResult, "energyBeforeFirstPlanKwh" | "refusedPowerOffs" | "wakeWindows"> {
  const q = dc.q;
  let active = 0,
    viol = 0,
    ratioSum = 0,
    ratioN = 0;
  for (let h = 0; h < dc.nHosts; h++) {
    const a = dc.hostActiveTime[h] as number;
    const s = dc.hostViolationTime[h] as number;
    active += a;
    viol += s;
    if (a > 0) {
      ratioSum += s / a;
      ratioN++;
    }
  }
  let req = 0,
    alloc = 0,
    loss = 0,
    pdmSum = 0,
    pdmN = 0;
  for (let v = 0; v < dc.nVms; v++) {
    const r = dc.vmRequestedInt[v] as number;
    req += r;
    alloc += dc.vmAllocatedInt[v] as number;
    loss += dc.vmMigrationLossInt[v] as number;
    if (r > 0) {
      pdmSum += (dc.vmMigrationLossInt[v] as number) / r;
      pdmN++;
    }
  }
  // Q5: CloudSim's Helper divides sums; the paper averages per-host and per-VM ratios.
  const slatah = q.q5RatioOfSums ? (active > 0 ? viol / active : 0) : ratioN > 0 ? ratioSum / ratioN : 0;
  const pdm = q.q5RatioOfSums ? (req > 0 ? loss / req : 0) : pdmN > 0 ? pdmSum / pdmN : 0;
  const energyKwh = dc.energyJ / (3600 * 1000);
  const slav = slatah * pdm;
  return {
    policy,
    mode,
    hosts: dc.nHosts,
    vms: dc.nVms,
    rounds,
    energyKwh,
    slatah,
    pdm,
    slav,
    esv: energyKwh * slav,
    migrations: dc.migrations,
    unserved: req > 0 ? (req - alloc) / req : 0,
    activeHostsMean: rounds > 0 ? activeSum / rounds : 0,
    activeHostsMax: activeMax,
    decisionMsMean: decisions.length ? decisions.reduce((a, b) => a + b, 0) / decisions.length : 0,
    // Not Math.max(...): a year of 5-minute rounds is more arguments than the stack holds.
    decisionMsMax: decisions.reduce((a, b) => Math.max(a, b), 0),
    removedVms: dc.removedVms,
    anomalies: dc.anomalies,
  };
}
