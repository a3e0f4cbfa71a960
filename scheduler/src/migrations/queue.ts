// Persisted moves waiting for a slot under the in-flight limits, in submission order. The limits
// themselves are the policy's one function (applyLimits); the queue only hands it its moves.
import { applyLimits, type InFlightLimits, type InFlightMigration, type LimitMove } from "@drover/policy";
import type { MigrationRow } from "@drover/store";
import type { Metrics } from "../metrics.js";

/** A move as the policy sees it in flight. */
export function asInFlight(r: MigrationRow): InFlightMigration {
  return { id: r.id, vmId: r.vmUuid, sourceHostId: r.source, destinationHostId: r.destination, startedMs: r.startedMs ?? r.createdMs };
}

export class MigrationQueue {
  /** By id; a Map keeps insertion order, which is the order moves start in. */
  private readonly rows = new Map<string, MigrationRow>();

  constructor(private readonly metrics: Metrics) {}

  /** Queues a move at the end (once). */
  add(row: MigrationRow): void {
    if (this.rows.has(row.id)) return;
    this.rows.set(row.id, row);
    this.metrics.migrationsQueued.set(this.rows.size);
  }

  /** Takes a move out of the queue; false when it was not queued. */
  remove(id: string): boolean {
    const had = this.rows.delete(id);
    if (had) this.metrics.migrationsQueued.set(this.rows.size);
    return had;
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

  forVm(uuid: string): MigrationRow | undefined {
    for (const r of this.rows.values()) if (r.vmUuid === uuid) return r;
    return undefined;
  }

  values(): IterableIterator<MigrationRow> {
    return this.rows.values();
  }

  get size(): number {
    return this.rows.size;
  }

  /** Takes out, in submission order, the moves the limits admit beside those `running`. */
  takeAdmitted(running: readonly MigrationRow[], limits: InFlightLimits): MigrationRow[] {
    if (this.rows.size === 0) return [];
    const steps = [...this.rows.values()].map((row, index): LimitMove & { row: MigrationRow } => ({
      kind: "migrate",
      index,
      dependsOn: [],
      sourceHostId: row.source,
      destinationHostId: row.destination,
      row,
    }));
    const { admitted } = applyLimits(steps, running.map(asInFlight), limits);
    for (const s of admitted) this.rows.delete(s.row.id);
    this.metrics.migrationsQueued.set(this.rows.size);
    return admitted.map((s) => s.row);
  }
}
