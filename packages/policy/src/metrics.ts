import { buildModel, type ClusterModel } from "./model.js";
import type { ClusterSnapshot } from "./types.js";

export interface ImbalanceWeights {
  readonly cpu: number;
  readonly memory: number;
  readonly contention: number;
}

/** The weights every plan's imbalance (PlanMetrics) and the scheduler's imbalance metric use. */
export const IMBALANCE_WEIGHTS: ImbalanceWeights = { cpu: 1, memory: 1, contention: 0.5 };

/**
 * Normalised multi-resource imbalance over the healthy hosts: the weighted sum, over CPU,
 * memory and contention, of the standard deviation of per-host utilisation (0 = even).
 */
export function imbalance(m: ClusterModel, w: ImbalanceWeights): number {
  let n = 0;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let q0 = 0;
  let q1 = 0;
  let q2 = 0;
  for (let h = 0; h < m.hosts.length; h++) {
    if (m.destOk[h] !== 1) continue;
    const c = m.cpuUtil(h);
    const mu = m.memUtil(h);
    const k = m.contention(h);
    s0 += c;
    q0 += c * c;
    s1 += mu;
    q1 += mu * mu;
    s2 += k;
    q2 += k * k;
    n++;
  }
  if (n === 0) return 0;
  const sd = (s: number, q: number) => Math.sqrt(Math.max(0, q / n - (s / n) ** 2));
  return w.cpu * sd(s0, q0) + w.memory * sd(s1, q1) + w.contention * sd(s2, q2);
}

/** Hosts that are on (neither standby nor waking). */
export function activeHosts(m: ClusterModel): number {
  let n = 0;
  for (let h = 0; h < m.hosts.length; h++) n += m.on[h] ?? 0;
  return n;
}

/**
 * The cluster as a plan's metrics measure it before any step: imbalance (IMBALANCE_WEIGHTS) and
 * active hosts. For watching a cluster between plans (the scheduler's metrics).
 */
export function measureCluster(snapshot: ClusterSnapshot, nowMs: number): { imbalance: number; activeHosts: number } {
  const m = buildModel(snapshot, nowMs);
  return { imbalance: imbalance(m, IMBALANCE_WEIGHTS), activeHosts: activeHosts(m) };
}
