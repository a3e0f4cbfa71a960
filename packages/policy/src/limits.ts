// The one place where in-flight migration limits are applied: after planning (by the runner) and
// by the scheduler's dispatcher before it starts anything. Policies never apply them.

import { DeferCode } from "./codes.js";
import type { InFlightLimits } from "./config.js";
import type { InFlightMigration } from "./types.js";

/** What the limits read of a move: its hosts and its group. A plan's MigrateStep is one. */
export interface LimitMove {
  readonly kind: "migrate";
  readonly index: number;
  readonly dependsOn: readonly number[];
  readonly sourceHostId: string;
  readonly destinationHostId: string;
  /** Moves sharing a group are admitted or deferred together. */
  readonly group?: string;
}

/** A step the limits do not count (a power-off or a wake); it is deferred only with what it depends on. */
export interface LimitOther {
  readonly kind: "power-off" | "wake";
  readonly index: number;
  readonly dependsOn: readonly number[];
}

/** The least a step must carry to go through `applyLimits`; a plan's PlanStep is one. */
export type LimitStep = LimitMove | LimitOther;

export interface LimitResult<S extends LimitStep> {
  /** Steps that may run now, in plan order (indices unchanged, possibly with gaps). */
  readonly admitted: S[];
  readonly deferred: { readonly step: S; readonly code: string; readonly message: string }[];
}

const isMove = <S extends LimitStep>(s: S): s is S & LimitMove => s.kind === "migrate";

/** Why a step waits: step `blocker`, one of its dependencies, was deferred. */
export function waitsForDeferred(blocker: number): { code: string; message: string } {
  return { code: DeferCode.dependency, message: `waits for step ${blocker}, which was deferred` };
}

/**
 * Admit migrate steps in order while the per-source, per-destination and cluster-wide counts
 * (starting from the migrations already in flight) stay within the limits; a step whose
 * dependency was deferred is deferred too. Power and wake steps are not counted. Returns the
 * caller's own step objects.
 */
export function applyLimits<S extends LimitStep>(
  steps: readonly S[],
  inFlight: readonly InFlightMigration[],
  limits: InFlightLimits,
): LimitResult<S> {
  const out = new Map<string, number>();
  const into = new Map<string, number>();
  let cluster = 0;
  for (const m of inFlight) {
    out.set(m.sourceHostId, (out.get(m.sourceHostId) ?? 0) + 1);
    into.set(m.destinationHostId, (into.get(m.destinationHostId) ?? 0) + 1);
    cluster++;
  }
  const deferredIdx = new IndexSet(steps.length);
  const admitted: S[] = [];
  const deferred: LimitResult<S>["deferred"] = [];
  const defer = (step: S, code: string, message: string) => {
    deferredIdx.add(step.index);
    deferred.push({ step, code, message });
  };
  // Steps of one group (VMs that must stay together) are admitted or deferred together.
  const groups = new Map<string, (S & LimitMove)[]>();
  // The loops over the steps go by index: this runs once a plan (rarely optimised by then), where
  // a for-of made an iterator result per step of 100,000s.
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k] as S;
    if (!isMove(step) || step.group === undefined) continue;
    const g = groups.get(step.group);
    if (g === undefined) groups.set(step.group, [step]);
    else g.push(step);
  }
  // The cluster-wide refusal reads the same for every move while the count stands: one object.
  let clusterFull = { count: -1, refusal: { code: DeferCode.perCluster as string, message: "" } };
  /** Why one more move from `m.sourceHostId` to `m.destinationHostId` is refused, given the counts. */
  const refusal = (m: LimitMove, c: number, s: number, d: number): { code: string; message: string } | null => {
    if (c + 1 > limits.perCluster) {
      if (clusterFull.count !== c)
        clusterFull = {
          count: c,
          refusal: { code: DeferCode.perCluster, message: `cluster already has ${c} migration(s) (limit ${limits.perCluster})` },
        };
      return clusterFull.refusal;
    }
    if (s + 1 > limits.perSource)
      return { code: DeferCode.perSource, message: `${m.sourceHostId} already sends ${s} migration(s) (limit ${limits.perSource})` };
    if (d + 1 > limits.perDestination)
      return {
        code: DeferCode.perDestination,
        message: `${m.destinationHostId} already receives ${d} migration(s) (limit ${limits.perDestination})`,
      };
    return null;
  };
  const decided = new IndexSet(steps.length);
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k] as S;
    if (decided.has(step.index)) continue;
    const blocker = firstDeferred(step.dependsOn, deferredIdx);
    if (blocker !== undefined) {
      const w = waitsForDeferred(blocker);
      defer(step, w.code, w.message);
      continue;
    }
    if (!isMove(step)) {
      admitted.push(step);
      continue;
    }
    if (step.group === undefined) {
      // A lone move (nearly every move): counted in place.
      decided.add(step.index);
      // Past the cluster limit (most of a big plan) the refusal does not read the hosts' counts.
      const full = cluster + 1 > limits.perCluster;
      const s = full ? 0 : (out.get(step.sourceHostId) ?? 0);
      const d = full ? 0 : (into.get(step.destinationHostId) ?? 0);
      const r = refusal(step, cluster, s, d);
      if (r !== null) {
        defer(step, r.code, r.message);
        continue;
      }
      out.set(step.sourceHostId, s + 1);
      into.set(step.destinationHostId, d + 1);
      cluster++;
      admitted.push(step);
      continue;
    }
    const members = groups.get(step.group) ?? [step];
    // Count the whole group before admitting any of it (deltas only: no copy of the counters).
    const o2 = new Map<string, number>();
    const i2 = new Map<string, number>();
    let c2 = cluster;
    let refused: { code: string; message: string } | null = null;
    for (const m of members) {
      const s = o2.get(m.sourceHostId) ?? out.get(m.sourceHostId) ?? 0;
      const d = i2.get(m.destinationHostId) ?? into.get(m.destinationHostId) ?? 0;
      if (m !== step && firstDeferred(m.dependsOn, deferredIdx) !== undefined)
        refused = { code: DeferCode.dependency, message: `a step of group ${m.group} waits for a deferred step` };
      else refused = refusal(m, c2, s, d);
      if (refused !== null) break;
      o2.set(m.sourceHostId, s + 1);
      i2.set(m.destinationHostId, d + 1);
      c2++;
    }
    for (const m of members) decided.add(m.index);
    if (refused !== null) {
      const why = members.length > 1 ? `${refused.message}; group of ${members.length} moves together` : refused.message;
      for (const m of members) defer(m, refused.code, why);
      continue;
    }
    for (const [k, v] of o2) out.set(k, v);
    for (const [k, v] of i2) into.set(k, v);
    cluster = c2;
    for (const m of members) admitted.push(m);
  }
  admitted.sort((a, b) => a.index - b.index);
  return { admitted, deferred };
}

/**
 * A set of step indices: a byte per index below the size (a plan's steps are numbered 0..n-1),
 * a Set for any other number. 100,000s of deferred steps were a third of a big plan's limits.
 */
class IndexSet {
  private readonly small: Uint8Array;
  private readonly other = new Set<number>();
  constructor(size: number) {
    this.small = new Uint8Array(size);
  }
  private inSmall(i: number): boolean {
    return Number.isInteger(i) && i >= 0 && i < this.small.length;
  }
  has(i: number): boolean {
    return this.inSmall(i) ? this.small[i] === 1 : this.other.has(i);
  }
  add(i: number): void {
    if (this.inSmall(i)) this.small[i] = 1;
    else this.other.add(i);
  }
}

/** The first of `deps` that was deferred, if any. */
function firstDeferred(deps: readonly number[], deferred: IndexSet): number | undefined {
  for (const d of deps) if (deferred.has(d)) return d;
  return undefined;
}
