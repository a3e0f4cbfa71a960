// Consolidate (power saving). Hosts should run between band.low and band.high of their CPU, by
// forecast demand. One pass, near-linear in hosts + VMs, in four phases over a shared context,
// after the misfits (misfits.ts) are packed like relief's VMs, or a standby host that may take them
// is woken (wakeForMisfits):
//  1. relieveOverload: move the fewest, cheapest VMs off hosts above the band, best fit under it;
//  2. wakeForDemand: if forecast demand (at the first standby host's wake latency), load relief
//     found no room for, or the spare floor needs more capacity than the powered hosts offer under
//     the band, wake standby hosts and empty nothing this round;
//  3. emptyUnderusedHosts: otherwise empty hosts below band.low, cheapest total move cost first,
//     packing their VMs (multi-dimensional best fit under the band) onto hosts that stay on, and
//     power each emptied host off when the power-off rule allows it (power-off.ts, the one the
//     scheduler checks again before the command) and the hosts left carry the forecast under
//     the band, with room to spare for load above the band that waits to move (its VMs cooling
//     down or in flight: relief moves it next round);
//  4. replaceInefficient: wake efficient standby hosts to take over inefficient ones that stayed on.
// Hosts inside the band are left alone (hysteresis); a host that receives VMs is not emptied.

import { z } from "zod";
import { NotMovedCode, PowerOffBlockCode, StepCode } from "../codes.js";
import { FitIndex } from "../fit-index.js";
import type { ClusterModel } from "../model.js";
import type { PlanBuilder } from "../plan-builder.js";
import type { Policy } from "../policy.js";
import { PowerOffGuard } from "../power-off.js";
import type { Host } from "../types.js";
import { efficiency, type Efficiency } from "./host-efficiency.js";
import { FailedShapes } from "./failed-shapes.js";
import { moveMisfits, noHostFor } from "./misfits.js";

export const consolidateArgs = z
  .object({
    band: z
      .object({
        /** Hosts whose forecast CPU is below this fraction are emptied. */
        low: z.number().min(0).max(1).default(0.3),
        /** Nothing is packed above this fraction of a host's CPU; hosts above it are relieved. */
        high: z.number().min(0.05).max(1).default(0.8),
        /**
         * Pack destinations only up to this fraction (default: high). Below `high`, it leaves
         * room for growth so fewer hosts cross `high` and need relief (hysteresis).
         */
        target: z.number().min(0.05).max(1).optional(),
      })
      .strict()
      .prefault({})
      .refine((b) => b.low < b.high, { message: "band.low must be below band.high" })
      .refine((b) => b.target === undefined || (b.target > b.low && b.target <= b.high), {
        message: "band.target must be above band.low and at most band.high",
      }),
    powerOff: z.boolean().default(true),
    wake: z.boolean().default(true),
    relieveOverload: z.boolean().default(true),
    /** Empty a host even if it cannot be powered off afterwards. */
    emptyWithoutPowerOff: z.boolean().default(false),
    /** Keep a host on at least this long after it came on (`Host.onSinceMs`): no wake/off churn. */
    minOnMs: z.number().min(0).default(1_800_000),
    maxMoves: z.number().int().min(0).default(1_000_000),
    maxPowerOffs: z.number().int().min(0).default(1_000_000),
    /**
     * With host power data (`power.maxW`): a host whose cost (full-load watts per MHz, or watts
     * per MiB at the cluster's load when memory binds: `host-efficiency.ts`) exceeds the best
     * available host's by more than this fraction is "inefficient": it is emptied even inside the
     * band when efficient hosts can take its VMs, receives VMs only from other inefficient hosts
     * (or to relieve overload), and efficient standby hosts are woken to replace it.
     */
    efficiencyMargin: z.number().min(0).default(0.1),
    preferEfficient: z.boolean().default(true),
  })
  .strict();
type Args = z.output<typeof consolidateArgs>;

const EPS = 1e-9;
/** Replacing inefficient hosts stops looking after this many efficient standby hosts none of their VMs may go to. */
const MAX_REFUSING_STANDBY = 16;
/** Power-off refusals that only room lifts (not rules, states or VMs that cannot move). */
const ROOM_CODES: ReadonlySet<string> = new Set([PowerOffBlockCode.spareCapacity, PowerOffBlockCode.forecastDemand]);

/** What the phases share: the model, the arguments, the plan so far and the running totals. */
interface Context {
  readonly m: ClusterModel;
  readonly args: Args;
  readonly b: PlanBuilder;
  /** Destinations are packed up to this fraction of their CPU (band.target, default band.high). */
  readonly pack: number;
  /** Per host: the CPU it may carry under the pack target (and its capacity's headroom), MHz. */
  readonly packCap: Float64Array;
  readonly enforceMem: boolean;
  readonly eff: Efficiency;
  readonly fit: FitIndex;
  /** Hosts that received VMs this round: they are not emptied in the same round. */
  readonly receivers: Uint8Array;
  /** Standby hosts that may be woken, in wake order for CPU demand (fewest full-load watts per MHz, fastest, biggest first). */
  readonly standby: number[];
  /** Forecast cluster CPU demand at the first standby host's wake latency. */
  readonly demandAhead: number;
  /** The power-off rule, with the spare capacity totals it keeps current as VMs move. */
  readonly guard: PowerOffGuard;
  /** Migrations planned so far (against `maxMoves`). */
  moves: number;
  /** CPU under band.high of the hosts that are on or waking. */
  capHighOn: number;
  /** Forecast CPU above the band that relief left because its VMs wait to move: emptying keeps room for it. */
  waitingCpu: number;
  /** What `place` is placing now, and the fit index's callbacks that read it. */
  readonly query: PlaceQuery;
  readonly placeOk: (h: number) => boolean;
  readonly placeLeftover: (h: number) => number;
}

function run(m: ClusterModel, args: Args, b: PlanBuilder): void {
  const ctx = newContext(m, args, b);
  // Misfits first (best fit under the band), so relief sees what they leave.
  const stranded: Stranded[] = [];
  moveMisfits(m, b, args.maxMoves, (unit, src, why) => {
    const dst = place(ctx, unit, src) ?? place(ctx, unit, src, true);
    if (dst !== null) commit(ctx, unit, dst, StepCode.consolidateMisfit, why);
    else stranded.push({ unit, why });
    return dst !== null;
  });
  const wokenFor = args.wake ? wakeForMisfits(ctx, stranded) : new Map<Stranded, number>();
  loadPhases(ctx);
  // Said last: a phase's note about the host (not emptied, say) must not hide why the VM is stuck.
  for (const x of stranded) {
    const dst = wokenFor.get(x);
    const note = dst === undefined ? noHostFor(x.why) : `${x.why}; ${m.hostId(dst)} is woken for it`;
    for (const v of x.unit) b.note(v, NotMovedCode.noDestination, note);
  }
}

/** Phases 1-4. */
function loadPhases(ctx: Context): void {
  const { args } = ctx;
  const relief = args.relieveOverload ? relieveOverload(ctx) : { unplaced: 0, waitingCpu: 0 };
  ctx.waitingCpu = relief.waitingCpu;
  if (wakeForDemand(ctx, relief.unplaced)) return;
  const stuck = emptyUnderusedHosts(ctx);
  if (args.wake) replaceInefficient(ctx, stuck);
}

function newContext(m: ClusterModel, args: Args, b: PlanBuilder): Context {
  const H = m.hosts.length;
  const high = args.band.high;
  const pack = args.band.target ?? high;
  const enforceMem = m.cfg.capacity.enforceMemory;
  const eff = efficiency(m, args);

  const guard = new PowerOffGuard(m);
  let capHighOn = 0;
  for (let h = 0; h < H; h++) {
    const host = m.hosts[h] as Host;
    if (m.destOk[h] === 1 || host.state === "waking") capHighOn += host.cpuCapacityMhz * high;
  }

  let maxCpuHigh = 1;
  let maxMemCap = 1;
  for (let h = 0; h < H; h++) {
    maxCpuHigh = Math.max(maxCpuHigh, (m.hosts[h] as Host).cpuCapacityMhz * pack);
    maxMemCap = Math.max(maxMemCap, m.memCap[h] ?? 0);
  }
  // Read on every host a placement visits: computed once.
  const packCap = new Float64Array(H);
  for (let h = 0; h < H; h++) packCap[h] = Math.min(m.cpuCap[h] ?? 0, (m.hosts[h] as Host).cpuCapacityMhz * pack);
  const fit = new FitIndex(
    H,
    maxCpuHigh,
    maxMemCap,
    (h) => (packCap[h] ?? 0) - (m.cpuLoad[h] ?? 0),
    (h) => memLeft(m, h),
  );
  for (let h = 0; h < H; h++) if (m.destOk[h] === 1) fit.update(h);

  const standby: number[] = [];
  for (let h = 0; h < H; h++) {
    const host = m.hosts[h] as Host;
    if (host.state === "standby" && host.power.canWake) standby.push(h);
  }
  standby.sort(
    (a, c) =>
      eff.perMhz(a) - eff.perMhz(c) ||
      (m.hosts[a] as Host).power.wakeLatencyMs - (m.hosts[c] as Host).power.wakeLatencyMs ||
      (m.hosts[c] as Host).cpuCapacityMhz - (m.hosts[a] as Host).cpuCapacityMhz ||
      a - c,
  );
  const latency = standby.length > 0 ? (m.hosts[standby[0] as number] as Host).power.wakeLatencyMs : 0;
  const query: PlaceQuery = { unit: [], src: -1, exclude: -1, anyHost: false, mem: 0 };
  return {
    m,
    args,
    b,
    pack,
    packCap,
    enforceMem,
    eff,
    fit,
    receivers: new Uint8Array(H),
    standby,
    demandAhead: guard.demandAhead(latency),
    guard,
    moves: 0,
    capHighOn,
    waitingCpu: 0,
    query,
    ...placeCallbacks(m, eff, pack, packCap, enforceMem, query),
  };
}

// ---------------------------------------------------------------------------------------------
// Loads, moves and placement

/** CPU a host may still take under the pack target. */
function remaining(ctx: Context, h: number): number {
  return (ctx.packCap[h] ?? 0) - (ctx.m.cpuLoad[h] ?? 0);
}
function memLeft(m: ClusterModel, h: number): number {
  return (m.memCap[h] ?? 0) - (m.memLoad[h] ?? 0);
}
/** Forecast CPU above the band's upper bound (what relief must move away). */
function overBand(ctx: Context, h: number): number {
  const { m } = ctx;
  return (m.cpuLoad[h] ?? 0) - Math.min(m.cpuCap[h] ?? 0, (m.hosts[h] as Host).cpuCapacityMhz * ctx.args.band.high);
}
// Sums by loops, not reduce: a callback per call, and placements run 100,000s of times.
function unitCpu(m: ClusterModel, unit: readonly number[]): number {
  let c = 0;
  for (let i = 0; i < unit.length; i++) c += m.vmCpu[unit[i] as number] ?? 0;
  return c;
}
function unitMem(m: ClusterModel, unit: readonly number[]): number {
  let mem = 0;
  for (let i = 0; i < unit.length; i++) mem += m.vmMem[unit[i] as number] ?? 0;
  return mem;
}

/** Tentatively move a unit (or undo that) and keep the fit index and spare totals current. */
function moveUnit(ctx: Context, unit: readonly number[], dst: number, undo: boolean): void {
  const { m, fit } = ctx;
  const src = m.vmHost[unit[0] as number] as number;
  ctx.guard.moving(src, dst);
  if (undo) m.unmove(unit, dst);
  else m.move(unit, dst);
  ctx.guard.moved(src, dst);
  if (fit.has(src)) fit.update(src);
  if (fit.has(dst)) fit.update(dst);
}

/** Record a move as a step (the builder moves it in the model). */
function commit(ctx: Context, unit: readonly number[], dst: number, code: string, message: string): void {
  const { m, fit } = ctx;
  const src = m.vmHost[unit[0] as number] as number;
  ctx.guard.moving(src, dst);
  ctx.b.migrate(unit, dst, code, message);
  ctx.guard.moved(src, dst);
  if (m.destOk[src] === 1) fit.update(src);
  fit.update(dst);
  ctx.receivers[dst] = 1;
  ctx.moves += unit.length;
}

/** Best fit under the band; inefficient destinations only for VMs leaving inefficient hosts (or `anyHost`). */
function place(ctx: Context, unit: readonly number[], exclude: number, anyHost = false): number | null {
  const { m, enforceMem } = ctx;
  const q = ctx.query;
  q.unit = unit;
  q.src = m.vmHost[unit[0] as number] as number;
  q.exclude = exclude;
  q.anyHost = anyHost || ctx.eff.inefficient(q.src);
  q.mem = unitMem(m, unit);
  return ctx.fit.find(m.aggregate ? m.addedLowerBound(unit) : unitCpu(m, unit), enforceMem ? q.mem : 0, ctx.placeOk, ctx.placeLeftover);
}

/**
 * The unit `place` is placing, read by the fit index's callbacks: these are made once per plan,
 * not twice per placement (100,000s of closures in a big plan).
 */
interface PlaceQuery {
  unit: readonly number[];
  src: number;
  exclude: number;
  /** Inefficient destinations allowed (relief's last resort, or VMs leaving an inefficient host). */
  anyHost: boolean;
  mem: number;
}

function placeCallbacks(
  m: ClusterModel,
  eff: Efficiency,
  pack: number,
  packCap: Float64Array,
  enforceMem: boolean,
  q: PlaceQuery,
): { placeOk: (h: number) => boolean; placeLeftover: (h: number) => number } {
  const checkOpts = { cpuFraction: pack };
  return {
    placeOk: (h) =>
      h !== q.exclude &&
      (q.anyHost || !eff.inefficient(h)) &&
      m.check(q.unit, h, checkOpts) === null &&
      m.unitCost(q.unit, q.src, h) !== null,
    placeLeftover: (h) => {
      const host = m.hosts[h] as Host;
      const c = ((packCap[h] ?? 0) - m.loadWith(q.unit, h)) / host.cpuCapacityMhz;
      const mm = enforceMem ? ((m.memCap[h] ?? 0) - (m.memLoad[h] ?? 0) - q.mem) / host.memoryMiB : 0;
      return c + mm + m.softPenalty(q.unit, h) + (eff.inefficient(h) ? 1 : 0);
    },
  };
}

/** A misfit no host that is on could take, and what its host lacks. */
interface Stranded {
  readonly unit: readonly number[];
  readonly why: string;
}

/**
 * Wakes, for each stranded misfit, the first standby host in wake order that it may go to
 * (`ClusterModel.allowedOn`) with room for it under the pack target; the next round moves it there.
 * Woken hosts leave `ctx.standby`, and one woken host takes as many as its room allows. Returns
 * the host woken for each misfit that got one.
 */
function wakeForMisfits(ctx: Context, stranded: readonly Stranded[]): Map<Stranded, number> {
  const { m, b } = ctx;
  const wokenFor = new Map<Stranded, number>();
  /** Room left under the pack target on the hosts woken here: CPU, memory. */
  const room = new Map<number, [number, number]>();
  const fits = (x: Stranded, h: number, [cpu, mem]: readonly [number, number]) =>
    unitCpu(m, x.unit) <= cpu + EPS && (!ctx.enforceMem || unitMem(m, x.unit) <= mem + EPS) && m.allowedOn(x.unit, h) === null;
  for (const x of stranded) {
    let dst = [...room].find(([h, r]) => fits(x, h, r))?.[0];
    if (dst === undefined) {
      const i = ctx.standby.findIndex((h) => fits(x, h, [ctx.packCap[h] ?? 0, m.memCap[h] ?? 0]));
      if (i < 0) continue;
      dst = ctx.standby[i] as number;
      ctx.standby.splice(i, 1);
      b.wake(
        dst,
        StepCode.consolidateWakeMisfit,
        `for ${x.unit.map((v) => m.vmId(v)).join(", ")}: ${x.why}, and no host that is on can take it`,
      );
      ctx.capHighOn += (m.hosts[dst] as Host).cpuCapacityMhz * ctx.args.band.high;
      room.set(dst, [ctx.packCap[dst] ?? 0, m.memCap[dst] ?? 0]);
    }
    const [cpu, mem] = room.get(dst) as [number, number];
    room.set(dst, [cpu - unitCpu(m, x.unit), mem - unitMem(m, x.unit)]);
    wokenFor.set(x, dst);
  }
  return wokenFor;
}

// ---------------------------------------------------------------------------------------------
// 1. Relieve hosts above the band. Returns the forecast CPU that found no destination (load that
//    cannot move now is not counted: no host woken for it could take it), and the CPU left above
//    the band on hosts whose load waits to move (cooling down, in flight, over the move cap).

/** Why a VM cannot move this round that passes by itself (unlike a pin, a rule or a move that cannot complete). */
const WAITING: ReadonlySet<string> = new Set([NotMovedCode.cooldown, NotMovedCode.inFlight]);

function relieveOverload(ctx: Context): { unplaced: number; waitingCpu: number } {
  const { m, args, b, pack } = ctx;
  const high = args.band.high;
  let unplaced = 0;
  let waitingCpu = 0;
  const over: number[] = [];
  for (let h = 0; h < m.hosts.length; h++) if (m.destOk[h] === 1 && overBand(ctx, h) > EPS) over.push(h);
  over.sort((a, c) => overBand(ctx, c) - overBand(ctx, a) || a - c);
  for (const h of over) {
    let excess = overBand(ctx, h);
    /** CPU of the units that were tried and found no host with room. */
    let noRoom = 0;
    const { units, waiting } = unitsOn(m, h, b);
    // One VM that covers the excess, cheapest; then (or else) the biggest first. With the host's
    // demand forecast as a whole (forecast.aggregate "host"), a VM's own forecast is not what its
    // leaving takes off the host's, so the one VM may leave some excess behind.
    const single = units.filter((u) => u.cpu >= excess).sort((x, y) => x.cost - y.cost || x.first - y.first)[0];
    const rest = units.filter((u) => u !== single).sort((x, y) => y.cpu - x.cpu || x.first - y.first);
    const order = single !== undefined ? [single, ...rest] : rest;
    let capped = false;
    for (const u of order) {
      if (excess <= EPS) break;
      if (ctx.moves + u.unit.length > args.maxMoves) {
        for (const v of u.unit) b.note(v, NotMovedCode.moveCap, `the round's ${args.maxMoves} moves are used`);
        capped = true;
        continue;
      }
      // Relief prefers efficient hosts but takes any host rather than leave the overload.
      const dst = place(ctx, u.unit, h) ?? place(ctx, u.unit, h, true);
      if (dst === null) {
        noRoom += u.cpu;
        for (const v of u.unit)
          b.note(
            v,
            NotMovedCode.noDestination,
            `${m.hostId(h)} is above the band (${(m.cpuUtil(h) * 100).toFixed(0)}% CPU forecast) and no host can take this VM under ${pack * 100}%`,
          );
        continue;
      }
      // The VM's own forecast says why a VM idle now moves: it peaked within the forecast's window.
      const why =
        `${m.hostId(h)} forecast ${(m.cpuUtil(h) * 100).toFixed(0)}% CPU, above the band (${high * 100}%); ` +
        `${u.unit.length > 1 ? "their" : "its"} forecast ${u.cpu.toFixed(0)} MHz`;
      commit(ctx, u.unit, dst, StepCode.consolidateRelieve, why);
      excess = overBand(ctx, h);
    }
    if (excess > EPS) {
      unplaced += Math.min(excess, noRoom);
      if (capped || waiting) waitingCpu += excess;
    }
  }
  return { unplaced, waitingCpu };
}

// ---------------------------------------------------------------------------------------------
// 2. Wake standby hosts when forecast demand, unplaced load or the spare floor needs them. True
//    when capacity is short: then nothing is emptied this round.

function wakeForDemand(ctx: Context, unplaced: number): boolean {
  const { m, args, b, demandAhead } = ctx;
  const freeCpu = ctx.guard.freeCpuMhz;
  const needCpu = ctx.guard.needCpuMhz;
  const short = demandAhead - ctx.capHighOn;
  let deficit = Math.max(unplaced, short, needCpu - freeCpu);
  if (deficit <= EPS) return false;
  // The message names the need that sized the wake (the largest of the three).
  const wakeForSpare = needCpu - freeCpu > EPS && deficit === needCpu - freeCpu;
  const forUnplaced = !wakeForSpare && deficit === unplaced && unplaced > short;
  if (!args.wake) return true;
  for (const h of ctx.standby) {
    if (deficit <= EPS) break;
    const host = m.hosts[h] as Host;
    b.wake(
      h,
      wakeForSpare ? StepCode.consolidateWakeSpare : StepCode.consolidateWake,
      wakeForSpare
        ? `spare capacity below the floor (${freeCpu.toFixed(0)} < ${needCpu.toFixed(0)} MHz free)`
        : forUnplaced
          ? `${unplaced.toFixed(0)} MHz above the band found no host with room under ${ctx.pack * 100}% CPU`
          : `forecast demand ${demandAhead.toFixed(0)} MHz in ${(host.power.wakeLatencyMs / 1000).toFixed(0)} s exceeds ${ctx.capHighOn.toFixed(0)} MHz under the band`,
    );
    deficit -= host.cpuCapacityMhz * args.band.high;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// 3. Empty hosts below the band, cheapest first, and power them off. Returns the inefficient
//    hosts that stayed on for want of room (phase 4 wakes efficient hosts for them).

function emptyUnderusedHosts(ctx: Context): number[] {
  const { m, args, b, guard, fit, pack } = ctx;
  const high = args.band.high;
  const low = args.band.low;
  let powerOffs = 0;
  const ineffStuck: number[] = [];
  const failures = new FailedShapes(m, ctx.enforceMem);
  for (const h of emptyingOrder(ctx)) {
    if (ctx.receivers[h] === 1) continue;
    const host = m.hosts[h] as Host;
    const recentlyOn = host.onSinceMs !== undefined && m.nowMs - host.onSinceMs < args.minOnMs;
    const wantOff = args.powerOff && powerOffs < args.maxPowerOffs && !recentlyOn;
    // Before moving anything: the power-off rule as if h were emptied, and this policy's own
    // hysteresis (the hosts left on must carry the forecast demand under the band).
    const blockers = wantOff ? guard.blockersOnceEmptied(h) : [];
    const bandShort = wantOff && ctx.capHighOn - host.cpuCapacityMhz * high + EPS < ctx.demandAhead + ctx.waitingCpu;
    const canOff = wantOff && blockers.length === 0 && !bandShort;
    if (!canOff && !args.emptyWithoutPowerOff) {
      const why = blockers.map((x) => x.message);
      if (bandShort) {
        const waiting = ctx.waitingCpu > EPS ? ` and the ${ctx.waitingCpu.toFixed(0)} MHz above the band that waits to move` : "";
        why.push(`the hosts left on would carry less than the forecast ${ctx.demandAhead.toFixed(0)} MHz${waiting} under the band`);
      }
      if (why.length > 0)
        for (const v of m.hostVms[h] ?? []) b.note(v, NotMovedCode.hostNotEmptied, `${m.hostId(h)} stays on: ${why.join("; ")}`);
      // Only room keeps it on: efficient standby hosts could take its load (phase 4).
      if (why.length > 0 && blockers.every((x) => ROOM_CODES.has(x.code)) && ctx.eff.inefficient(h)) ineffStuck.push(h);
      continue;
    }
    const vmsHere = m.hostVms[h] ?? [];
    if (ctx.moves + vmsHere.length > args.maxMoves) {
      for (const v of vmsHere) b.note(v, NotMovedCode.moveCap, `the round's ${args.maxMoves} moves are used`);
      continue;
    }
    fit.remove(h);
    const { units, all } = unitsOn(m, h, b);
    /** Where units[i] went, tentatively, for the units placed so far (in their sorted order). */
    const dsts: number[] = [];
    let failed: string | null = !all ? "a VM on it cannot move now (pinned, in flight or cooling down)" : null;
    if (failed === null) {
      units.sort((x, y) => y.cpu - x.cpu || x.first - y.first);
      for (const u of units) {
        const shape = failures.shapeOf(u.unit);
        // Shape dominance only holds when loads add up (not for aggregated forecasts).
        const plain = !m.aggregate && !anyConstrained(m, u.unit);
        const dst = plain && failures.doomed(shape) ? null : place(ctx, u.unit, h);
        if (dst === null) {
          // Capacity in the index only shrinks until a host is put back with more room, so a
          // capacity-only failure found before any tentative move (and that h itself could not
          // absorb) also dooms every larger shape; later candidates fail in O(1).
          if (plain && dsts.length === 0 && !(remaining(ctx, h) >= shape.cpu && memLeft(m, h) >= shape.mem)) failures.add(shape);
          failed = `no host can take ${u.unit.map((v) => m.vmId(v)).join(", ")} under ${pack * 100}% CPU`;
          if (ctx.eff.inefficient(h)) ineffStuck.push(h);
          break;
        }
        moveUnit(ctx, u.unit, dst, false);
        dsts.push(dst);
      }
    }
    // With every VM placed, h is empty: the power-off rule exactly (any aggregation).
    if (failed === null && canOff) {
      const late = guard.blockers(h);
      if (late.length > 0) failed = late.map((x) => x.message).join("; ");
    }
    // Roll back the tentative moves; on success replay them as steps.
    for (let i = dsts.length - 1; i >= 0; i--) moveUnit(ctx, (units[i] as UnitInfo).unit, h, true);
    if (failed !== null) {
      for (const u of units) for (const v of u.unit) b.note(v, NotMovedCode.hostNotEmptied, `${m.hostId(h)} stays on: ${failed}`);
      fit.update(h);
      continue;
    }
    const why =
      m.cpuUtil(h) < low
        ? `empty ${m.hostId(h)} (forecast CPU below ${low * 100}%)`
        : `empty ${m.hostId(h)} (${ctx.eff.describe(ctx.eff.of[h] as number)}, the best host ${ctx.eff.describe(ctx.eff.best)})`;
    for (let i = 0; i < dsts.length; i++) commit(ctx, (units[i] as UnitInfo).unit, dsts[i] as number, StepCode.consolidateEmpty, why);
    fit.remove(h);
    if (canOff && guard.blockers(h).length === 0) {
      b.powerOff(h, StepCode.consolidatePowerOff, `${m.hostId(h)} is empty; the others keep the spare capacity`);
      guard.powerOff(h);
      ctx.capHighOn -= host.cpuCapacityMhz * high;
      powerOffs++;
    } else {
      fit.update(h);
      failures.clear();
    }
  }
  return ineffStuck;
}

/** Hosts worth emptying: healthy, not receiving, below band.low (or inefficient), nothing in flight. */
function emptyingOrder(ctx: Context): number[] {
  const { m, eff } = ctx;
  const candidates: { h: number; cost: number }[] = [];
  for (let h = 0; h < m.hosts.length; h++) {
    if (m.destOk[h] !== 1 || ctx.receivers[h] === 1) continue;
    if (m.cpuUtil(h) >= ctx.args.band.low && !eff.inefficient(h)) continue;
    if ((m.inFlightIn[h] ?? 0) > 0 || (m.inFlightOut[h] ?? 0) > 0) continue;
    let cost = 0;
    const vms = m.hostVms[h] as number[];
    // By index: a for-of made an iterator result per VM (this runs once a plan, rarely optimised).
    for (let k = 0; k < vms.length; k++) {
      const p = m.prediction(vms[k] as number, h, h);
      cost += p === null ? Infinity : p.cost;
    }
    candidates.push({ h, cost });
  }
  // Inefficient hosts first (worst watts per MHz first): the efficient ones receive their VMs.
  candidates.sort(
    (a, c) =>
      Number(eff.inefficient(c.h)) - Number(eff.inefficient(a.h)) ||
      (eff.inefficient(a.h) ? eff.rank(c.h) - eff.rank(a.h) : 0) ||
      a.cost - c.cost ||
      m.cpuUtil(a.h) - m.cpuUtil(c.h) ||
      a.h - c.h,
  );
  return candidates.map((c) => c.h);
}

// ---------------------------------------------------------------------------------------------
// 4. Replace inefficient hosts: wake the most efficient standby hosts to take their load; the
//    next rounds empty the inefficient hosts onto them (they sort first) and power them off.

function replaceInefficient(ctx: Context, stuckHosts: readonly number[]): void {
  const { m, eff } = ctx;
  // Each stuck host that could be emptied if there were room (every VM free to move), with its load
  // still to find room for. A standby host is woken only for hosts every VM of which may go to it
  // (not for a VM that needs a CPU model or core speed it lacks, or a rule keeps away), and takes
  // its capacity's worth of their load.
  const left: { units: UnitInfo[]; load: number }[] = [];
  for (const h of stuckHosts) {
    const { units, all } = unitsOn(m, h);
    if (all) left.push({ units, load: eff.load(h) });
  }
  // By what binds (ctx.standby is in order of watts per MHz, for CPU demand).
  const byRank = [...ctx.standby].sort((a, c) => eff.rank(a) - eff.rank(c));
  let refused = 0;
  for (const h of byRank) {
    if (eff.inefficient(h) || !Number.isFinite(eff.of[h]) || refused >= MAX_REFUSING_STANDBY) break;
    const fits = left.filter((x) => x.load > EPS && x.units.every((u) => m.allowedOn(u.unit, h) === null));
    if (fits.length === 0) {
      if (left.every((x) => x.load <= EPS)) break;
      refused++;
      continue;
    }
    ctx.b.wake(h, StepCode.consolidateWake, `replace less efficient hosts (${eff.describe(eff.of[h] as number)} here)`);
    let room = eff.offers(h, ctx.pack);
    for (const x of fits) {
      const took = Math.min(room, x.load);
      x.load -= took;
      room -= took;
      if (room <= EPS) break;
    }
  }
}

/** A VM of the unit has placement constraints beyond capacity (a loop, not `every` with a callback per unit). */
function anyConstrained(m: ClusterModel, unit: readonly number[]): boolean {
  for (let i = 0; i < unit.length; i++) if (m.constrained(unit[i] as number)) return true;
  return false;
}

/** Two units share a VM (only possible when a unit has several). */
function overlap(units: readonly UnitInfo[]): boolean {
  if (units.every((u) => u.unit.length === 1)) return false;
  return units.length !== new Set(units.flatMap((u) => u.unit)).size;
}

interface UnitInfo {
  unit: number[];
  /** Its forecast CPU (VM forecasts do not change during a plan). */
  cpu: number;
  cost: number;
  first: number;
}

/**
 * The movable units on a host (notes the VMs that cannot move, given a plan builder), whether some
 * VM there cannot move now for a reason that passes (cooling down, in flight), and whether the
 * units hold every VM of the host once (so moving them all empties it).
 */
function unitsOn(m: ClusterModel, h: number, b?: PlanBuilder): { units: UnitInfo[]; waiting: boolean; all: boolean } {
  /** The partners of the units found so far (a VM is listed on its host once: lone VMs need no entry). */
  let seen: Set<number> | undefined;
  const out: UnitInfo[] = [];
  let waiting = false;
  const vms = m.hostVms[h] as number[];
  for (let k = 0; k < vms.length; k++) {
    const v = vms[k] as number;
    if (seen?.has(v) === true) continue;
    const u = m.unitOf(v);
    if (!("unit" in u)) {
      b?.note(v, u.reject, `cannot move now (${u.reject})`);
      waiting ||= WAITING.has(u.reject);
      continue;
    }
    if (u.unit.length > 1) for (const x of u.unit) (seen ??= new Set()).add(x);
    const cost = m.unitCost(u.unit, h, h);
    if (cost === null) {
      if (b !== undefined) for (const x of u.unit) b.note(x, NotMovedCode.notConvergent, "no migration strategy completes for this VM");
      continue;
    }
    out.push({ unit: u.unit, cpu: unitCpu(m, u.unit), cost, first: v });
  }
  return { units: out, waiting, all: vms.length === out.reduce((a, u) => a + u.unit.length, 0) && !overlap(out) };
}

export const consolidatePolicy: Policy<typeof consolidateArgs> = {
  name: "consolidate",
  description: "pack VMs onto fewer hosts within a utilisation band, power off the emptied ones, wake hosts ahead of demand",
  args: consolidateArgs,
  run,
};
