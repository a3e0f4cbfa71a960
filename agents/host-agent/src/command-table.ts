import { CommandReply, MigrationResult, type Logger, type MigrateCommand } from "@drover/protocol";
import { z } from "zod";
import { readStateFile, writeStateFile } from "./state-file.js";

/** What a restarted agent needs to find a migration it started in libvirt and report it by the same ids. */
export const MigrationRecord = z.object({
  migrationId: z.string(),
  vm: z.string(),
  vmUuid: z.string(),
  /** `cluster` only for a move into another cluster (absent in journals of agents before it: their own). */
  destination: z.object({ host: z.string(), uri: z.string(), cluster: z.string().optional() }),
  startedAtMs: z.number(),
  timeoutMs: z.number(),
  undefineOnSource: z.boolean(),
  /**
   * The guest ran when the move began: found paused on this host after a move that failed, it was
   * paused by the move (offline, or the ladder's pause rung), and recovery resumes it. False in
   * journals of agents before it: a guest the operator paused stays paused.
   */
  guestRunning: z.boolean().default(false),
  /**
   * Disk images this move created on its destination (copy-storage), each journalled once made: a
   * restarted agent hands them to the leftovers if the move did not land. Empty in journals of agents before it.
   */
  images: z.array(z.string()).default([]),
});
export type MigrationRecord = z.infer<typeof MigrationRecord>;

const JournalFile = z.object({
  v: z.literal(1),
  host: z.string(),
  migrations: z.array(
    z.object({
      reply: CommandReply,
      migration: MigrationRecord,
      /** The result while the results stream has not acked it (result-outbox.ts). */
      owedResult: MigrationResult.optional(),
    }),
  ),
});

/** Finished migrations kept in the journal (a repeated id is answered from it after a restart). */
const FINISHED_KEPT = 100;

export function migrationRecord(
  cmd: MigrateCommand,
  vm: { name: string; uuid: string },
  startedAtMs: number,
  guestRunning: boolean,
): MigrationRecord {
  return {
    migrationId: cmd.migrationId,
    vm: vm.name,
    vmUuid: vm.uuid,
    destination: {
      host: cmd.destination.host,
      uri: cmd.destination.uri,
      ...(cmd.destination.cluster !== undefined ? { cluster: cmd.destination.cluster } : {}),
    },
    startedAtMs,
    timeoutMs: cmd.options.timeoutMs,
    undefineOnSource: cmd.options.undefineOnSource,
    guestRunning,
    images: [],
  };
}

/**
 * Commands by id for idempotency: the first reply is kept (and updated as a long command
 * progresses); a repeated id gets it back with `duplicate: true`. Bounded: the oldest entries are
 * forgotten first. Migrations are also journalled in `file` (written and synced before libvirt is
 * asked to migrate, and on each change), so an agent restarted mid-migration knows the command,
 * finds the job in libvirt and reports it by the same ids (recovery.ts). Other commands are short
 * and safe to forget.
 */
export class CommandTable {
  private readonly entries = new Map<string, CommandReply>();
  private readonly migrations = new Map<string, MigrationRecord>();
  /** Results of journalled migrations not yet acked by the results stream, by command id. */
  private readonly owed = new Map<string, MigrationResult>();

  constructor(
    private readonly capacity: number,
    private readonly journal?: { file: string; host: string; log: Logger },
  ) {
    if (journal) this.load(journal);
  }

  get(id: string): CommandReply | undefined {
    return this.entries.get(id);
  }

  /** Records the reply of a new id; returns false (and changes nothing) if the id is known. */
  claim(id: string, reply: CommandReply): boolean {
    if (this.entries.has(id)) return false;
    this.entries.set(id, reply);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.migrations.delete(oldest);
    }
    return true;
  }

  update(id: string, patch: Partial<CommandReply>): void {
    const cur = this.entries.get(id);
    if (!cur) return;
    this.entries.set(id, { ...cur, ...patch });
    if (!this.migrations.has(id)) return;
    try {
      this.save();
    } catch (e) {
      // The outcome is still answered from memory and published; only a restart would not know it.
      this.journal?.log.error({ err: e, cmd: id }, "command journal not written");
    }
  }

  /** Journals a migration about to start (synchronously, on disk before this returns). */
  recordMigration(id: string, m: MigrationRecord): void {
    if (!this.entries.has(id)) return;
    this.migrations.set(id, m);
    this.save();
  }

  /** A journalled migration created a disk image on its destination (on disk before this returns). */
  recordImage(id: string, path: string): void {
    const m = this.migrations.get(id);
    if (!m) return;
    this.migrations.set(id, { ...m, images: [...m.images, path] });
    this.save();
  }

  /** A journalled migration's record, as the journal has it now. */
  migration(id: string): MigrationRecord | undefined {
    return this.migrations.get(id);
  }

  /**
   * A migration ended: its reply takes the outcome and its result is owed until the stream acks it,
   * both on disk in one write (a restart in between would otherwise lose the result).
   */
  finishMigration(id: string, patch: Partial<CommandReply>, result: MigrationResult): void {
    if (this.migrations.has(id)) this.owed.set(id, result);
    this.update(id, patch);
  }

  /** The results stream acked this command's result. */
  resultStored(id: string): void {
    if (!this.owed.delete(id)) return;
    try {
      this.save();
    } catch (e) {
      // Worst case a restart publishes it again: the stream and the scheduler keep it once.
      this.journal?.log.error({ err: e, cmd: id }, "command journal not written");
    }
  }

  /** Results an earlier run (or this one) has not had acked yet. */
  owedResults(): MigrationResult[] {
    return [...this.owed.values()];
  }

  /** Migrations journalled as under way: started by an earlier run of this agent, outcome not known yet. */
  unfinished(): Array<{ id: string; migration: MigrationRecord }> {
    return [...this.migrations].filter(([id]) => isUnderWay(this.entries.get(id))).map(([id, migration]) => ({ id, migration }));
  }

  get size(): number {
    return this.entries.size;
  }

  private load(j: { file: string; host: string; log: Logger }): void {
    const parsed = readStateFile(j, JournalFile, "command journal (starting without it)");
    if (!parsed) return;
    for (const { reply, migration, owedResult } of parsed.migrations) {
      this.entries.set(reply.id, reply);
      this.migrations.set(reply.id, migration);
      if (owedResult) this.owed.set(reply.id, owedResult);
    }
  }

  private save(): void {
    const j = this.journal;
    if (!j) return;
    const all = [...this.migrations].map(([id, migration]) => {
      const owedResult = this.owed.get(id);
      return { reply: this.entries.get(id)!, migration, ...(owedResult ? { owedResult } : {}) };
    });
    // Kept: under way, owing a result, and the latest finished ones.
    const open = all.filter((e) => isUnderWay(e.reply) || e.owedResult);
    const finished = all.filter((e) => !isUnderWay(e.reply) && !e.owedResult).slice(-FINISHED_KEPT);
    const keep = new Set([...open, ...finished].map((e) => e.reply.id));
    for (const id of this.migrations.keys()) if (!keep.has(id)) this.migrations.delete(id);
    writeStateFile(j.file, { v: 1, host: j.host, migrations: all.filter((e) => keep.has(e.reply.id)) });
  }
}

function isUnderWay(r: CommandReply | undefined): boolean {
  return r?.status === "accepted" || r?.status === "running";
}
