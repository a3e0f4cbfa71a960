// Balance: reduce a normalised multi-resource imbalance (CPU, memory in use, contention) among the
// healthy hosts. The objective is the weighted sum over dimensions of Σ_h (u_h − mean)², so one
// move's benefit is independent of the cluster size and is computed in O(1). Moves come from hot
// hosts that passed a sustained-load gate, go to the coolest hosts, must each improve the
// objective by a minimum margin (set by the aggressiveness 1–5), respect cool-downs and caps per
// round and per host, and are chosen by benefit per unit of migration cost. Misfits (misfits.ts)
// move first, whatever the imbalance.

import { z } from "zod";
import { NotMovedCode, StepCode } from "../codes.js";
import { imbalance } from "../metrics.js";
import type { ClusterModel } from "../model.js";
import type { PlanBuilder } from "../plan-builder.js";
import type { Policy } from "../policy.js";
import { moveMisfits } from "./misfits.js";

/** Per aggressiveness level 1..5: act above this imbalance; each move must gain at least this. */
const TRIGGER = [0.25, 0.15, 0.1, 0.05, 0.02] as const;
const MIN_GAIN = [0.15, 0.05, 0.02, 0.01, 0.005] as const;

export const balanceArgs = z
  .object({
    /** 1 = only large, clear wins; 5 = chase small gains. */
    aggressiveness: z.number().int().min(1).max(5).default(3),
    /** Act only when the imbalance exceeds this (default from aggressiveness). */
    triggerImbalance: z.number().min(0).optional(),
    /** Minimum objective gain per move (default from aggressiveness). */
    minImprovement: z.number().min(0).optional(),
    maxMoves: z.number().int().min(0).max(10_000).default(8),
    /** Moves per host per round, counting it as source or destination. */
    maxMovesPerHost: z.number().int().min(1).default(2),
    /** A host is a source only if its CPU was above the cluster mean for this many samples. */
    sustainedSamples: z.number().int().min(1).max(1000).default(3),
    weights: z
      .object({ cpu: z.number().min(0).default(1), memory: z.number().min(0).default(0.5), contention: z.number().min(0).default(0.5) })
      .strict()
      .prefault({}),
    /** Candidate sources, destinations and VMs per source examined per move. */
    sourceHosts: z.number().int().min(1).default(8),
    destinationHosts: z.number().int().min(1).default(16),
    vmsPerSource: z.number().int().min(1).default(32),
  })
  .strict();
type Args = z.output<typeof balanceArgs>;

interface Sums {
  n: number;
  s: [number, number, number];
  q: [number, number, number];
}

function utils(m: ClusterModel, h: number): [number, number, number] {
  return [m.cpuUtil(h), m.memUtil(h), m.contention(h)];
}

/** Host CPU utilisation over the last `k` samples (measured history, else the sum of its VMs'). */
function recentCpuUtil(m: ClusterModel, h: number, k: number): number[] {
  const host = m.hosts[h];
  if (host === undefined) return [];
  const hist = host.cpuUsageMhzHistory;
  if (hist !== undefined && hist.length >= k) return hist.slice(hist.length - k).map((x) => x / host.cpuCapacityMhz);
  const out = new Array<number>(k).fill(0);
  for (const v of m.hostVms[h] ?? []) {
    const vh = m.vms[v]?.cpuDemandMhzHistory ?? [];
    for (let i = 0; i < k; i++) out[k - 1 - i] = (out[k - 1 - i] ?? 0) + (vh[vh.length - 1 - i] ?? vh[0] ?? 0);
  }
  return out.map((x) => x / host.cpuCapacityMhz);
}

/** Objective gain of moving `unit` from src to dst, from the running sums, in O(unit). */
function gain(
  m: ClusterModel,
  sums: Sums,
  w: readonly [number, number, number],
  unit: readonly number[],
  src: number,
  dst: number,
): number {
  let cpu = 0;
  let mem = 0;
  for (const v of unit) {
    cpu += m.vmCpu[v] ?? 0;
    mem += m.vmMemUse[v] ?? 0;
  }
  const hs = m.hosts[src];
  const hd = m.hosts[dst];
  if (hs === undefined || hd === undefined) return -Infinity;
  const sCpu = (m.cpuLoad[src] ?? 0) - cpu;
  const dCpu = (m.cpuLoad[dst] ?? 0) + cpu;
  const cont = (h: number, load: number) =>
    (m.cpuLoadBase[h] ?? 0) > 0 ? ((m.contentionBase[h] ?? 0) * load) / (m.cpuLoadBase[h] ?? 1) : 0;
  const n = sums.n;
  const dim = (d: number, b0: number, b1: number, a0: number, a1: number) => {
    const s0 = sums.s[d as 0];
    const q0 = sums.q[d as 0];
    const s1 = s0 - b0 - b1 + a0 + a1;
    const q1 = q0 - b0 * b0 - b1 * b1 + a0 * a0 + a1 * a1;
    return (w[d as 0] ?? 0) * (q0 - (s0 * s0) / n - (q1 - (s1 * s1) / n));
  };
  let g = dim(0, m.cpuUtil(src), m.cpuUtil(dst), sCpu / hs.cpuCapacityMhz, dCpu / hd.cpuCapacityMhz);
  if (w[1] > 0)
    g += dim(1, m.memUtil(src), m.memUtil(dst), ((m.memUse[src] ?? 0) - mem) / hs.memoryMiB, ((m.memUse[dst] ?? 0) + mem) / hd.memoryMiB);
  if (w[2] > 0) g += dim(2, m.contention(src), m.contention(dst), cont(src, sCpu), cont(dst, dCpu));
  return g;
}

function computeSums(m: ClusterModel, active: readonly number[]): Sums {
  const sums: Sums = { n: active.length, s: [0, 0, 0], q: [0, 0, 0] };
  for (const h of active) {
    const u = utils(m, h);
    for (let d = 0; d < 3; d++) {
      sums.s[d as 0] += u[d] ?? 0;
      sums.q[d as 0] += (u[d] ?? 0) ** 2;
    }
  }
  return sums;
}

interface Best {
  unit: number[];
  src: number;
  dst: number;
  gain: number;
  score: number;
}

function run(m: ClusterModel, args: Args, b: PlanBuilder): void {
  const level = args.aggressiveness - 1;
  const trigger = args.triggerImbalance ?? TRIGGER[level] ?? 0.1;
  const minGain = args.minImprovement ?? MIN_GAIN[level] ?? 0.02;
  const w: [number, number, number] = [args.weights.cpu, args.weights.memory, args.weights.contention];
  const active: number[] = [];
  for (let h = 0; h < m.hosts.length; h++) if (m.destOk[h] === 1) active.push(h);
  if (active.length < 2) return;
  // Misfits first, whatever the imbalance: each to the host it may go to that gains the most.
  let moves = moveMisfits(m, b, args.maxMoves, (unit, src, why) => {
    const sums = computeSums(m, active);
    let dst = -1;
    let best = -Infinity;
    for (const h of active) {
      if (m.check(unit, h) !== null || m.unitCost(unit, src, h) === null) continue;
      const g = gain(m, sums, w, unit, src, h) - m.softPenalty(unit, h) * minGain * 2;
      if (g > best) [dst, best] = [h, g];
    }
    if (dst >= 0) b.migrate(unit, dst, StepCode.balanceMisfit, why);
    return dst >= 0;
  });
  if (imbalance(m, args.weights) <= trigger) return;

  const meanCpu = active.reduce((a, h) => a + m.cpuUtil(h), 0) / active.length;
  const meanMem = active.reduce((a, h) => a + m.memUtil(h), 0) / active.length;
  const meanCont = active.reduce((a, h) => a + m.contention(h), 0) / active.length;
  const gate = new Map<number, boolean>();
  const sustained = (h: number): boolean => {
    let g = gate.get(h);
    if (g === undefined) {
      // Memory and contention are not spiky samples: a host well above the mean passes; CPU
      // must be above the mean for several samples.
      g =
        (args.weights.memory > 0 && m.memUtil(h) > meanMem + trigger) ||
        (args.weights.contention > 0 && m.contention(h) > meanCont + trigger) ||
        recentCpuUtil(m, h, args.sustainedSamples).every((u) => u > meanCpu);
      gate.set(h, g);
    }
    return g;
  };
  const perHost = new Map<number, number>();
  const used = (h: number) => perHost.get(h) ?? 0;
  const sums = computeSums(m, active);

  for (;;) {
    const mean = [0, 1, 2].map((d) => (sums.s[d] ?? 0) / sums.n);
    const m0 = mean[0] ?? 0;
    const m1 = mean[1] ?? 0;
    const m2 = mean[2] ?? 0;
    const score = (h: number) => w[0] * (m.cpuUtil(h) - m0) + w[1] * (m.memUtil(h) - m1) + (w[2] > 0 ? w[2] * (m.contention(h) - m2) : 0);
    const scored = active.map((h) => ({ h, s: score(h) })).sort((a, c) => c.s - a.s || a.h - c.h);
    const sources: number[] = [];
    for (const x of scored) {
      if (sources.length >= args.sourceHosts || x.s <= 0) break;
      if (used(x.h) < args.maxMovesPerHost && sustained(x.h)) sources.push(x.h);
    }
    const dests: number[] = [];
    for (let i = scored.length - 1; i >= 0 && dests.length < args.destinationHosts; i--) {
      const x = scored[i];
      if (x !== undefined && x.s < 0 && used(x.h) < args.maxMovesPerHost) dests.push(x.h);
    }
    const capped = moves >= args.maxMoves;
    let best: Best | null = null;
    for (const src of sources) {
      const onHost = [...(m.hostVms[src] ?? [])].sort((a, c) => (m.vmCpu[c] ?? 0) - (m.vmCpu[a] ?? 0) || a - c);
      const seen = new Set<number>();
      let examined = 0;
      for (const v of onHost) {
        if (seen.has(v)) continue;
        if (examined++ >= args.vmsPerSource) break;
        const u = m.unitOf(v);
        if (!("unit" in u)) {
          b.note(v, u.reject, `not moved: ${u.reject}`);
          continue;
        }
        for (const x of u.unit) seen.add(x);
        let unitBest = -Infinity;
        let refused = 0;
        for (const dst of dests) {
          const r = m.check(u.unit, dst);
          if (r !== null) {
            refused++;
            if (r.ruleId !== undefined) b.block(r.ruleId, r.code, v, dst);
            continue;
          }
          const cost = m.unitCost(u.unit, src, dst);
          if (cost === null) continue;
          const g = gain(m, sums, w, u.unit, src, dst) - m.softPenalty(u.unit, dst) * minGain * 2;
          unitBest = Math.max(unitBest, g);
          if (g < minGain) continue;
          const s = g / Math.max(cost, 1e-6);
          if (best === null || s > best.score) best = { unit: u.unit, src, dst, gain: g, score: s };
        }
        const names = u.unit;
        for (const x of names) {
          if (capped && unitBest >= minGain)
            b.note(x, NotMovedCode.moveCap, `a move would help but the round's ${args.maxMoves} moves are used`);
          else if (unitBest === -Infinity && m.unitCost(u.unit, src, src) === null)
            b.note(x, NotMovedCode.notConvergent, "no migration strategy completes for this VM");
          else if (unitBest === -Infinity)
            b.note(x, NotMovedCode.noDestination, `no cooler host can take it (${refused} of ${dests.length} refused)`);
          else if (unitBest < minGain) b.note(x, NotMovedCode.insufficientBenefit, `best gain ${unitBest.toFixed(4)} < margin ${minGain}`);
        }
      }
    }
    if (capped || best === null) break;
    const before = [utils(m, best.src), utils(m, best.dst)];
    b.migrate(
      best.unit,
      best.dst,
      StepCode.balanceImbalance,
      `${m.hostId(best.src)} is hot (CPU ${(before[0]?.[0] ?? 0).toFixed(2)}, memory ${(before[0]?.[1] ?? 0).toFixed(2)}); ${m.hostId(best.dst)} is cool (CPU ${(before[1]?.[0] ?? 0).toFixed(2)}); gain ${best.gain.toFixed(4)}`,
    );
    const afterU = [utils(m, best.src), utils(m, best.dst)];
    for (let d = 0; d < 3; d++) {
      sums.s[d as 0] += (afterU[0]?.[d] ?? 0) + (afterU[1]?.[d] ?? 0) - (before[0]?.[d] ?? 0) - (before[1]?.[d] ?? 0);
      sums.q[d as 0] += (afterU[0]?.[d] ?? 0) ** 2 + (afterU[1]?.[d] ?? 0) ** 2 - (before[0]?.[d] ?? 0) ** 2 - (before[1]?.[d] ?? 0) ** 2;
    }
    perHost.set(best.src, used(best.src) + 1);
    perHost.set(best.dst, used(best.dst) + 1);
    moves++;
  }
}

export const balancePolicy: Policy<typeof balanceArgs> = {
  name: "balance",
  description: "spread load so no host is hot, without moving VMs back and forth",
  args: balanceArgs,
  // The sustained-load gate reads the hosts' (or their VMs') last samples.
  historySamples: (args) => args.sustainedSamples,
  run,
};
