// Admission: whether a requested move may be queued at all. Each refusal is a DispatchError whose
// code names the reason and whose field names the part of the request at fault.
import type { HostState } from "@drover/protocol";
import type { MigrationRow, Store } from "@drover/store";
import type { ClusterState, VmEntry } from "../cluster-state.js";
import type { SchedulerConfig } from "../config.js";
import { DispatchError } from "../errors.js";
import type { PeerClusters } from "../peer-clusters.js";

export interface MoveRequest {
  /** VM uuid or name. */
  vm: string;
  destination: string;
  /** The destination's cluster when it is not this one (one of `peerClusters`). */
  destinationCluster?: string | null;
  requestedBy: string;
  reason: string;
  planId?: string | null;
  predictedDurationMs?: number | null;
  predictedDowntimeMs?: number | null;
  strategy?: string | null;
}

export interface AdmissionDeps {
  state: ClusterState;
  /** Other clusters a move may go to (config `peerClusters`). */
  peers: PeerClusters;
  store: Store;
  config: SchedulerConfig;
}

/** A host state after "is": "in maintenance", "in standby", "powering off". */
const inWords = (st: HostState): string => (st === "maintenance" || st === "standby" ? `in ${st}` : st.replace("-", " "));

/**
 * Checks a move against the cluster as reported at `nowMs`: the VM and the destination exist and
 * differ from where the VM runs, both hosts may take part, the VM is not already being moved
 * (`underway`), and the same move did not fail within the failure cool-down. Returns the VM.
 */
export function admit(d: AdmissionDeps, req: MoveRequest, nowMs: number, underway: (vmUuid: string) => MigrationRow | undefined): VmEntry {
  const { state, store, config } = d;
  const vm = state.vm(req.vm);
  if (!vm) throw new DispatchError("unknown-vm", `no VM "${req.vm}" is reported by any host`, "vm");
  const across = req.destinationCluster || null;
  const dst = across === null ? state : d.peers.state(across);
  const where = across === null ? "" : ` in cluster ${across}`;
  if (!dst.hosts.has(req.destination)) throw new DispatchError("unknown-host", `no host "${req.destination}"${where}`, "host");
  if (across === null && vm.host === req.destination) {
    throw new DispatchError("same-host", `${vm.report.name} already runs on ${req.destination}`, "host");
  }
  if (!state.canBeSource(vm.host, nowMs)) {
    throw new DispatchError("source-unavailable", `source ${vm.host} is ${inWords(state.stateOf(state.hosts.get(vm.host)!, nowMs))}`, "vm");
  }
  if (!dst.canBeDestination(req.destination, nowMs)) {
    throw new DispatchError(
      "destination-unavailable",
      `destination ${req.destination}${where} is ${inWords(dst.stateOf(dst.hosts.get(req.destination)!, nowMs))}`,
      "host",
    );
  }
  const busy = underway(vm.uuid);
  if (busy) throw new DispatchError("vm-busy", `${vm.report.name} is already being moved by migration ${busy.id}`, "vm");
  const failed = store.migrations.lastFailure(vm.uuid, req.destination);
  if (failed?.endedMs != null && nowMs - failed.endedMs < config.cooldowns.failureMs) {
    const left = Math.ceil((config.cooldowns.failureMs - (nowMs - failed.endedMs)) / 1000);
    throw new DispatchError(
      "cooldown",
      `moving ${vm.report.name} to ${req.destination} failed ${Math.round((nowMs - failed.endedMs) / 1000)} s ago (${failed.error?.code ?? failed.status}); cool-down ${left} s left`,
      "host",
    );
  }
  return vm;
}
