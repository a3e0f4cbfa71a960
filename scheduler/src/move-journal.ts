// With leadership on, every migrate command is written to a replicated JetStream KV bucket before it
// is sent, and removed when its move ends. A new leader imports what is left into its own store, so
// reconciliation asks the source agent about it by command id instead of planning it again: the move
// is never sent twice. SQLite stays each scheduler's own view; this journal is only moves in flight.
import { z } from "zod";
import { MOVE_JOURNAL_BUCKET, type Bus, type TypedKv } from "@drover/bus";
import { HostId, Id, VmRef, type Logger } from "@drover/protocol";
import type { Store } from "@drover/store";

export const JournalEntry = z.object({
  migrationId: Id,
  commandId: Id,
  vmUuid: VmRef,
  source: HostId,
  destination: HostId,
  sentAtMs: z.number().int().nonnegative(),
  /** Who sent it: the scheduler id and its lease revision. */
  sentBy: z.string().min(1).max(128),
  leaseRevision: z.number().int().positive(),
});
export type JournalEntry = z.output<typeof JournalEntry>;

export class MoveJournal {
  private constructor(
    private readonly kv: TypedKv<typeof JournalEntry>,
    private readonly cluster: string,
  ) {}

  static async open(bus: Bus, cluster: string, replicas: number): Promise<MoveJournal> {
    return new MoveJournal(await bus.jetstream.kv(MOVE_JOURNAL_BUCKET, JournalEntry, { replicas, history: 1 }), cluster);
  }

  /** Written before the command goes out; a failure here means it is not sent. */
  async sending(e: JournalEntry): Promise<void> {
    await this.kv.put(this.key(e.migrationId), e);
  }

  async ended(migrationId: string): Promise<void> {
    await this.kv.delete(this.key(migrationId));
  }

  async unfinished(): Promise<JournalEntry[]> {
    const out: JournalEntry[] = [];
    for (const k of await this.kv.keys(`${this.cluster}.>`)) {
      const e = await this.kv.get(k);
      if (e) out.push(e);
    }
    return out;
  }

  private key(migrationId: string): string {
    return `${this.cluster}.${migrationId}`;
  }
}

/**
 * Adds to the store, as `dispatched`, each journaled move it does not know (sent by a previous leader),
 * for reconciliation to ask its source agent about. Returns how many were imported.
 */
export function importUnfinished(
  entries: JournalEntry[],
  store: Store,
  vmName: (uuid: string) => string,
  now: number,
  log: Logger,
): number {
  let n = 0;
  for (const e of entries) {
    if (store.migrations.get(e.migrationId) || store.migrations.byCommandId(e.commandId)) continue;
    store.migrations.insert({
      id: e.migrationId,
      commandId: e.commandId,
      // The plan, if any, is in the previous leader's store.
      planId: null,
      vmUuid: e.vmUuid,
      vmName: vmName(e.vmUuid),
      source: e.source,
      destination: e.destination,
      requestedBy: `leader:${e.sentBy}`,
      reason: `sent by scheduler ${e.sentBy} (lease revision ${e.leaseRevision}) before it stopped leading`,
      status: "dispatched",
      predictedDurationMs: null,
      predictedDowntimeMs: null,
      strategy: null,
      createdMs: e.sentAtMs,
      updatedMs: now,
    });
    n++;
  }
  if (n > 0) log.info({ moves: n }, "imported moves in flight from the previous leader");
  return n;
}
