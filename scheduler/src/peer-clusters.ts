// The other clusters an operator may move this cluster's VMs to (config `peerClusters`): each is
// followed through its hosts' reports in a ClusterState of its own, to choose and check a
// destination there. Read only: nothing is planned for them, no command goes to their hosts, and
// nothing of theirs is stored (their own scheduler keeps their history).
import type { Bus, Subscription } from "@drover/bus";
import { HostReport, hostOfSubject, subjects } from "@drover/protocol";
import type { Clock } from "./clock.js";
import { ClusterState } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import { DispatchError } from "./errors.js";

export class PeerClusters {
  private readonly states = new Map<string, ClusterState>();

  constructor(private readonly config: SchedulerConfig) {
    for (const name of config.peerClusters) this.states.set(name, new ClusterState(name, config.reports));
  }

  get names(): string[] {
    return [...this.states.keys()];
  }

  /** The peer cluster's picture, or undefined for one not in `peerClusters`. */
  find(cluster: string): ClusterState | undefined {
    return this.states.get(cluster);
  }

  /** The peer cluster's picture; a cluster not in `peerClusters` is refused, naming the ones that are. */
  state(cluster: string, field = "cluster"): ClusterState {
    const s = this.states.get(cluster);
    if (s) return s;
    const known = this.names.length ? `peerClusters: ${this.names.join(", ")}` : "peerClusters is empty";
    throw new DispatchError("unknown-cluster", `cluster ${cluster} is not one this scheduler may move VMs to (${known})`, field);
  }

  /** Follows every peer's host reports; returns the subscriptions to end on shutdown. */
  follow(bus: Bus, clock: Clock): Subscription[] {
    return [...this.states].map(([name, state]) =>
      bus.subscribe(
        subjects.allHostReports(name),
        HostReport,
        (r, ctx) => void state.ingest(r, clock.now(), hostOfSubject(ctx.subject) ?? ""),
        {
          maxBytes: this.config.reports.maxBytes,
        },
      ),
    );
  }
}

/**
 * Where a move's destination is judged: this cluster's picture (no `cluster`), or the peer's it
 * goes to; undefined when that peer is no longer configured.
 */
export function destinationState(d: { state: ClusterState; peers: PeerClusters }, cluster: string | null | undefined) {
  return cluster ? d.peers.find(cluster) : d.state;
}

/**
 * Where a move's VM is reported now: on a host of this cluster, or (a move across clusters, once
 * this cluster no longer lists it) on its destination when the peer's picture shows it there.
 */
export function whereVmIs(
  d: { state: ClusterState; peers: PeerClusters },
  row: { vmUuid: string; destination: string; destinationCluster?: string | null },
): string | null {
  const here = d.state.vm(row.vmUuid)?.host ?? null;
  if (here !== null || !row.destinationCluster) return here;
  return destinationState(d, row.destinationCluster)?.vm(row.vmUuid)?.host === row.destination ? row.destination : null;
}

/** A move's destination as logs name it: `h3`, or `b/h3` when it is in another cluster. */
export function destinationLabel(row: { destination: string; destinationCluster?: string | null }): string {
  return row.destinationCluster ? `${row.destinationCluster}/${row.destination}` : row.destination;
}
