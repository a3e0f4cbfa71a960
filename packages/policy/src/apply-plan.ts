// What the cluster would look like once a plan's steps have run (pure; the snapshot is not
// modified). Used to check no-ping-pong and by the simulator.

import { PolicyInputError } from "./errors.js";
import type { ClusterSnapshot, Host, Plan, PlanStep, Vm } from "./types.js";

function shift(history: readonly number[] | undefined, vmHistory: readonly number[], sign: 1 | -1): number[] | undefined {
  if (history === undefined) return undefined;
  const out = history.slice();
  const off = out.length - vmHistory.length;
  for (let i = Math.max(0, -off); i < vmHistory.length; i++) {
    const j = i + off;
    out[j] = Math.max(0, (out[j] ?? 0) + sign * (vmHistory[i] ?? 0));
  }
  return out;
}

/**
 * Apply the plan's steps (not its deferred ones): moved VMs get their new host, `previousHostId`
 * and `lastMigrationMs = plan.nowMs`; measured host CPU histories move with the VM; powered-off
 * hosts become standby, woken hosts waking with `onSinceMs` = their expected ready time.
 */
export function applyPlan(snapshot: ClusterSnapshot, plan: Pick<Plan, "steps" | "nowMs">): ClusterSnapshot {
  return applySteps(snapshot, plan.steps, plan.nowMs);
}

export function applySteps(snapshot: ClusterSnapshot, steps: readonly PlanStep[], nowMs: number): ClusterSnapshot {
  const vms = new Map<string, Vm>(snapshot.vms.map((v) => [v.id, v]));
  const hosts = new Map<string, Host>(snapshot.hosts.map((h) => [h.id, h]));
  for (const s of steps) {
    if (s.kind === "migrate") {
      const vm = vms.get(s.vmId);
      const src = hosts.get(s.sourceHostId);
      const dst = hosts.get(s.destinationHostId);
      if (vm === undefined || src === undefined || dst === undefined)
        throw new PolicyInputError(`plan.steps.${s.index}`, "names an unknown VM or host");
      if (vm.hostId !== s.sourceHostId)
        throw new PolicyInputError(`plan.steps.${s.index}`, `VM ${vm.id} is on ${vm.hostId}, not ${s.sourceHostId}`);
      vms.set(vm.id, { ...vm, hostId: dst.id, previousHostId: src.id, lastMigrationMs: nowMs });
      const srcHist = shift(src.cpuUsageMhzHistory, vm.cpuDemandMhzHistory, -1);
      const dstHist = shift(dst.cpuUsageMhzHistory, vm.cpuDemandMhzHistory, 1);
      if (srcHist !== undefined) hosts.set(src.id, { ...src, cpuUsageMhzHistory: srcHist });
      if (dstHist !== undefined) hosts.set(dst.id, { ...dst, cpuUsageMhzHistory: dstHist });
    } else {
      const h = hosts.get(s.hostId);
      if (h === undefined) throw new PolicyInputError(`plan.steps.${s.index}`, `unknown host "${s.hostId}"`);
      hosts.set(h.id, s.kind === "power-off" ? { ...h, state: "standby" } : { ...h, state: "waking", onSinceMs: s.readyByMs });
    }
  }
  return { ...snapshot, hosts: snapshot.hosts.map((h) => hosts.get(h.id) as Host), vms: snapshot.vms.map((v) => vms.get(v.id) as Vm) };
}
