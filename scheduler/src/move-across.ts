// `drover migrate VM --cluster B [HOST]`: one move to a host of a peer cluster (peer-clusters.ts).
import type { MigrateStep } from "@drover/policy";
import type { MigrationRow } from "@drover/store";
import type { ClusterState } from "./cluster-state.js";
import type { MoveRequest } from "./dispatcher.js";
import { DispatchError } from "./errors.js";
import type { PeerClusters } from "./peer-clusters.js";
import type { Planner, PlannerMoves } from "./planner.js";

export interface MoveAcrossDeps {
  state: ClusterState;
  peers: PeerClusters;
  planner: Pick<Planner, "placeAcross">;
  moves: Pick<PlannerMoves, "submit">;
}

/**
 * `drover migrate VM --cluster B [HOST]`: one move to a host of the peer cluster, the named one or,
 * without one, where the drain policy would place the VM there (the same checks as inside the
 * cluster). Throws a DispatchError naming what is wrong (no such cluster, VM or host; no host fits).
 */
export function moveAcross(d: MoveAcrossDeps, vmRef: string, cluster: string, host: string | undefined, by: string): MigrationRow {
  const peer = d.peers.state(cluster);
  const vm = d.state.vm(vmRef);
  if (!vm) throw new DispatchError("unknown-vm", `no VM "${vmRef}" is reported by any host`, "vm");
  const reason = `operator request: to cluster ${cluster}`;
  if (host !== undefined) return d.moves.submit({ vm: vm.uuid, destination: host, destinationCluster: cluster, requestedBy: by, reason });
  const plan = d.planner.placeAcross(peer, vm.host, new Set([vm.uuid]));
  const step = plan.steps.find((s) => s.kind === "migrate" && s.vmId === vm.uuid);
  if (step?.kind !== "migrate") {
    const why = plan.notMoved.find((n) => n.vmId === vm.uuid);
    throw new DispatchError(
      why?.code ?? "placement.no-destination",
      `no host of cluster ${cluster} can take ${vm.report.name}${why ? `: ${why.message}` : ""}`,
      "cluster",
    );
  }
  return d.moves.submit(acrossRequest(step, cluster, by, reason));
}

/** The move a step placed on a peer cluster (`Planner.placeAcross`) asks for, with its cost model's figures. */
export function acrossRequest(step: MigrateStep, cluster: string, requestedBy: string, reason: string): MoveRequest {
  return {
    vm: step.vmId,
    destination: step.destinationHostId,
    destinationCluster: cluster,
    requestedBy,
    reason,
    predictedDurationMs: step.prediction.durationMs,
    predictedDowntimeMs: step.prediction.downtimeMs,
    strategy: step.prediction.strategy,
  };
}
