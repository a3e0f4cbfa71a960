// Succeeded moves the reports do not show yet (the source still lists the VM, or the destination
// does not): planning must still see them, or it plans on the picture from before the move.
import type { MigrationRow } from "@drover/store";
import type { Clock } from "../clock.js";
import type { ClusterState, HostEntry } from "../cluster-state.js";
import { destinationState, type PeerClusters } from "../peer-clusters.js";

export class LandedMoves {
  private readonly rows = new Map<string, MigrationRow>();

  constructor(private readonly d: { state: ClusterState; clock: Clock; peers: PeerClusters }) {}

  add(row: MigrationRow): void {
    this.rows.set(row.id, row);
  }

  /** A new move of this VM supersedes what is still settling from its previous one. */
  forgetVm(vmUuid: string): void {
    for (const [id, r] of this.rows) if (r.vmUuid === vmUuid) this.rows.delete(id);
  }

  /**
   * The moves still settling. Drops a move once the source's report (received after the move
   * ended) no longer lists the VM and the destination's lists it; or once its hosts were silent
   * long enough to be left out of planning anyway.
   */
  current(): MigrationRow[] {
    const { state, clock } = this.d;
    const now = clock.now();
    const after = (h: HostEntry | undefined, end: number) => h?.report != null && h.lastSeenMs !== null && h.lastSeenMs >= end;
    const lists = (h: HostEntry | undefined, vmUuid: string) => h!.report!.vms.some((v) => v.uuid === vmUuid);
    for (const [id, r] of this.rows) {
      const end = r.endedMs ?? now;
      const src = state.hosts.get(r.source);
      // A move across clusters lands in the peer's picture.
      const dst = destinationState(this.d, r.destinationCluster)?.hosts.get(r.destination);
      const shown = after(src, end) && after(dst, end) && !lists(src, r.vmUuid) && lists(dst, r.vmUuid);
      if (shown || now - end > state.staleAfterMs * 2) this.rows.delete(id);
    }
    return [...this.rows.values()];
  }
}
