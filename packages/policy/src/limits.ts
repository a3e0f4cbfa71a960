// The one place where in-flight migration limits are applied: after planning (by the runner) and
// by the scheduler's dispatcher before it starts anything. Policies never apply them.

import { DeferCode } from "./codes.js";
import type { InFlightLimits } from "./config.js";
import type { DeferredStep, InFlightMigration, PlanStep } from "./types.js";

export interface LimitResult {
  /** Steps that may run now, in plan order (indices unchanged, possibly with gaps). */
  readonly admitted: PlanStep[];
  readonly deferred: DeferredStep[];
}

/**
 * Admit migrate steps in order while the per-source, per-destination and cluster-wide counts
 * (starting from the migrations already in flight) stay within the limits; a step whose
 * dependency was deferred is deferred too. Power and wake steps are not counted.
 */
export function applyLimits(steps: readonly PlanStep[], inFlight: readonly InFlightMigration[], limits: InFlightLimits): LimitResult {
  const out = new Map<string, number>();
  const into = new Map<string, number>();
  let cluster = 0;
  for (const m of inFlight) {
    out.set(m.sourceHostId, (out.get(m.sourceHostId) ?? 0) + 1);
    into.set(m.destinationHostId, (into.get(m.destinationHostId) ?? 0) + 1);
    cluster++;
  }
  const deferredIdx = new Set<number>();
  const admitted: PlanStep[] = [];
  const deferred: DeferredStep[] = [];
  const defer = (step: PlanStep, code: string, message: string) => {
    deferredIdx.add(step.index);
    deferred.push({ step, code, message });
  };
  for (const step of steps) {
    const blocker = step.dependsOn.find((d) => deferredIdx.has(d));
    if (blocker !== undefined) {
      defer(step, DeferCode.dependency, `waits for step ${blocker}, which was deferred`);
      continue;
    }
    if (step.kind !== "migrate") {
      admitted.push(step);
      continue;
    }
    const s = out.get(step.sourceHostId) ?? 0;
    const d = into.get(step.destinationHostId) ?? 0;
    if (cluster + 1 > limits.perCluster) {
      defer(step, DeferCode.perCluster, `cluster already has ${cluster} migration(s) (limit ${limits.perCluster})`);
    } else if (s + 1 > limits.perSource) {
      defer(step, DeferCode.perSource, `${step.sourceHostId} already sends ${s} migration(s) (limit ${limits.perSource})`);
    } else if (d + 1 > limits.perDestination) {
      defer(step, DeferCode.perDestination, `${step.destinationHostId} already receives ${d} migration(s) (limit ${limits.perDestination})`);
    } else {
      out.set(step.sourceHostId, s + 1);
      into.set(step.destinationHostId, d + 1);
      cluster++;
      admitted.push(step);
    }
  }
  return { admitted, deferred };
}
