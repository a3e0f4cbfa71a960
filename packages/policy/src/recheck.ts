// What the in-flight limits admit, judged again without what they defer. A policy plans each step
// on its model with every earlier step of the plan done; the limits then defer some moves. A
// departure a later step needs is one of its dependencies (the limits defer the two together), but
// not everything is: the power-off rule reads the whole cluster's spare, and with forecasts of each
// host's summed window (`forecast.aggregate` "host") a move onto a host can lower its forecast, so a
// later move there may fit only beside it.

import { DeferCode } from "./codes.js";
import { waitsForDeferred, type LimitResult } from "./limits.js";
import { buildModel } from "./model.js";
import { PowerOffGuard } from "./power-off.js";
import type { ClusterSnapshot, PlanStep } from "./types.js";

type Refusal = { code: string; message: string };
const LEFT_OUT = "with the moves the limits defer left out";

/**
 * Replays the admitted steps in plan order on the snapshot. A move whose destination then lacks
 * the capacity, or a power-off the power-off rule then refuses, is deferred with the reason; so is
 * every step that waits for one, and the rest of a move's group. Returns the caller's own steps.
 */
export function recheckAdmitted<S extends PlanStep>(snapshot: ClusterSnapshot, admitted: readonly S[], nowMs: number): LimitResult<S> {
  const refused = new Map<number, Refusal>();
  // A refusal of a group member whose earlier members were already replayed starts the replay
  // again without the group: each pass refuses at least one more step, so this ends.
  for (let again = true; again;) {
    again = false;
    const m = buildModel(snapshot, nowMs);
    const guard = new PowerOffGuard(m);
    const replayedGroups = new Set<string>();
    for (const step of admitted) {
      if (refused.has(step.index)) continue;
      const waits = step.dependsOn.find((d) => refused.has(d));
      if (waits !== undefined) {
        refused.set(step.index, waitsForDeferred(waits));
        continue;
      }
      if (step.kind === "migrate") {
        const v = m.vmIndex.get(step.vmId);
        const dst = m.hostIndex.get(step.destinationHostId);
        if (v === undefined || dst === undefined) continue;
        const code = m.capacityRejects([v], dst);
        if (code !== null) {
          const why = {
            code: DeferCode.capacity,
            message: `${LEFT_OUT}, ${step.destinationHostId} has no room for ${step.vmId} (${code})`,
          };
          refused.set(step.index, why);
          if (step.group !== undefined) {
            for (const o of admitted)
              if (o.kind === "migrate" && o.group === step.group && !refused.has(o.index)) refused.set(o.index, why);
            if (replayedGroups.has(step.group)) {
              again = true;
              break;
            }
          }
          continue;
        }
        if (step.group !== undefined) replayedGroups.add(step.group);
        const src = m.vmHost[v] as number;
        guard.moving(src, dst);
        m.move([v], dst);
        guard.moved(src, dst);
      } else if (step.kind === "power-off") {
        const h = m.hostIndex.get(step.hostId);
        const why = h === undefined ? [] : guard.blockers(h);
        if (why.length > 0) {
          refused.set(step.index, { code: DeferCode.powerOffRule, message: `${LEFT_OUT}: ${why.map((b) => b.message).join("; ")}` });
          continue;
        }
        if (h !== undefined) guard.powerOff(h);
      }
    }
  }
  const kept: S[] = [];
  const deferred: LimitResult<S>["deferred"] = [];
  for (const step of admitted) {
    const r = refused.get(step.index);
    if (r === undefined) kept.push(step);
    else deferred.push({ step, ...r });
  }
  return { admitted: kept, deferred };
}
