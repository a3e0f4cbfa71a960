// The one cycle among the scheduler's services: the dispatcher ends moves, and planning, maintenance
// and modes react to it while they also send moves through the dispatcher. The dispatcher publishes
// here and the others subscribe at construction, so no service is wired by assigning a field later.
import type { Logger } from "@drover/protocol";
import type { MigrationRow } from "@drover/store";

export type FinishedListener = (row: MigrationRow) => void;

export class MigrationEvents {
  private readonly finishedListeners: FinishedListener[] = [];

  constructor(private readonly log: Logger) {}

  onFinished(listener: FinishedListener): void {
    this.finishedListeners.push(listener);
  }

  /** Tells every listener that a move ended (any outcome); one failing listener does not stop the others. */
  finished(row: MigrationRow): void {
    for (const l of this.finishedListeners) {
      try {
        l(row);
      } catch (e) {
        this.log.error({ err: e, migration: row.id }, "migration-finished listener failed");
      }
    }
  }
}
