import type { ClusterModel } from "./model.js";

export interface ImbalanceWeights {
  readonly cpu: number;
  readonly memory: number;
  readonly contention: number;
}

/**
 * Normalised multi-resource imbalance over the healthy hosts: the weighted sum, over CPU,
 * memory and contention, of the standard deviation of per-host utilisation (0 = even).
 */
export function imbalance(m: ClusterModel, w: ImbalanceWeights): number {
  let n = 0;
  const s = [0, 0, 0];
  const q = [0, 0, 0];
  for (let h = 0; h < m.hosts.length; h++) {
    if (m.destOk[h] !== 1) continue;
    const u = [m.cpuUtil(h), m.memUtil(h), m.contention(h)];
    for (let d = 0; d < 3; d++) {
      s[d] = (s[d] ?? 0) + (u[d] ?? 0);
      q[d] = (q[d] ?? 0) + (u[d] ?? 0) ** 2;
    }
    n++;
  }
  if (n === 0) return 0;
  const sd = (d: number) => Math.sqrt(Math.max(0, (q[d] ?? 0) / n - ((s[d] ?? 0) / n) ** 2));
  return w.cpu * sd(0) + w.memory * sd(1) + w.contention * sd(2);
}

/** Hosts that are on (neither standby nor waking). */
export function activeHosts(m: ClusterModel): number {
  let n = 0;
  for (let h = 0; h < m.hosts.length; h++) n += m.on[h] ?? 0;
  return n;
}
