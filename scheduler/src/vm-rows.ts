// Which guests a flush writes to the store. The `vms` table is the rebuildable picture of where each
// guest was last seen (for a restarted scheduler, and for pruning guests gone longer than retainMs);
// the live picture is ClusterState. Writing every guest of every report each second cost a thousand-
// host cluster more than the rest of ingest (bench:soak --profile), so a row is written when what it
// says changes, and its last-seen time is refreshed at most once per SEEN_REFRESH_MS.
import type { VmSeenRow } from "@drover/store";

export const SEEN_REFRESH_MS = 60_000;

const signature = (r: VmSeenRow) => [r.host, r.name, r.state, r.memoryMiB, r.vcpus, ...r.tags].join("\u0000");

export class VmRowWriter {
  private readonly written = new Map<string, { sig: string; seenMs: number }>();
  private lastSweepMs = 0;

  /** The rows of `seen` the store does not hold yet, or holds with a last-seen time older than the refresh. */
  due(seen: readonly VmSeenRow[]): VmSeenRow[] {
    return seen.filter((r) => {
      const w = this.written.get(r.uuid);
      return !w || w.sig !== signature(r) || r.lastSeenMs - w.seenMs >= SEEN_REFRESH_MS;
    });
  }

  /** After the transaction that wrote `rows` committed (a rolled-back batch is written again next time). */
  committed(rows: readonly VmSeenRow[], nowMs: number): void {
    for (const r of rows) this.written.set(r.uuid, { sig: signature(r), seenMs: r.lastSeenMs });
    // Guests not seen for ten refreshes left (or were forgotten): their next sighting writes them again.
    if (nowMs - this.lastSweepMs < SEEN_REFRESH_MS) return;
    this.lastSweepMs = nowMs;
    for (const [uuid, w] of this.written) if (nowMs - w.seenMs > 10 * SEEN_REFRESH_MS) this.written.delete(uuid);
  }

  /** A guest's row was deleted from the store: written again at its next sighting. */
  forget(uuid: string): void {
    this.written.delete(uuid);
  }
}
