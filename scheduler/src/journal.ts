// What must survive the leader, in a replicated JetStream KV bucket (with leadership on): every
// migrate command, written before it is sent and removed when its move ends, every open drain,
// written when requested and removed on undrain, and the last run-time mode and schedule of each
// policy. A new leader imports what its own store lacks, so reconciliation asks the source agent
// about each move by command id (never sending it again), the drain goes on and the modes stay. SQLite stays each
// scheduler's own view and history.
import { z } from "zod";
import { JOURNAL_BUCKET, type Bus, type TypedKv } from "@drover/bus";
import {
  ConsolidationWindow,
  HostId,
  Id,
  PolicyMode,
  RunTimeModeKinds,
  ScheduleKinds,
  VmRef,
  type CommandInput,
  type Logger,
} from "@drover/protocol";
import type { Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { Maintenance } from "./maintenance.js";
import type { MigrationEvents } from "./migration-events.js";
import type { Modes } from "./modes.js";

export const MoveEntry = z.object({
  kind: z.literal("move"),
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
export type MoveEntry = z.output<typeof MoveEntry>;

export const DrainEntry = z.object({
  kind: z.literal("drain"),
  maintenanceId: Id,
  host: HostId,
  powerOff: z.boolean(),
  requestedBy: z.string().min(1),
  atMs: z.number().int().nonnegative(),
});
export type DrainEntry = z.output<typeof DrainEntry>;

/** A mode set at run time (`POST /v1/modes/{kind}`); kept, one per policy, for every next leader. */
export const ModeEntry = z.object({
  kind: z.literal("mode"),
  policy: z.enum(RunTimeModeKinds),
  mode: PolicyMode,
  by: z.string().min(1),
  atMs: z.number().int().nonnegative(),
});
export type ModeEntry = z.output<typeof ModeEntry>;

/** A schedule set at run time (`POST /v1/schedules/{kind}`); kept, one per policy, for every next leader. */
export const ScheduleEntry = z.object({
  kind: z.literal("schedule"),
  policy: z.enum(ScheduleKinds),
  window: ConsolidationWindow,
  by: z.string().min(1),
  atMs: z.number().int().nonnegative(),
});
export type ScheduleEntry = z.output<typeof ScheduleEntry>;

const Entry = z.discriminatedUnion("kind", [MoveEntry, DrainEntry, ModeEntry, ScheduleEntry]);

export class Journal {
  private constructor(
    private readonly kv: TypedKv<typeof Entry>,
    private readonly cluster: string,
  ) {}

  static async open(bus: Bus, cluster: string, replicas: number): Promise<Journal> {
    return new Journal(await bus.jetstream.kv(JOURNAL_BUCKET, Entry, { replicas, history: 1 }), cluster);
  }

  /**
   * Written before the command goes out; a failure here means it is not sent. Retried for a while:
   * when a NATS node goes, the bucket has no leader until its replicas elect one (seconds).
   */
  async moveSending(e: Omit<MoveEntry, "kind">, retryForMs = 10_000): Promise<void> {
    const deadline = Date.now() + retryForMs;
    for (;;) {
      try {
        await this.kv.put(this.key("move", e.migrationId), { kind: "move", ...e });
        return;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async moveEnded(migrationId: string): Promise<void> {
    await this.kv.delete(this.key("move", migrationId));
  }

  async drainOpened(e: Omit<DrainEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("drain", e.host), { kind: "drain", ...e });
  }

  async drainClosed(host: string): Promise<void> {
    await this.kv.delete(this.key("drain", host));
  }

  async modeSet(e: Omit<ModeEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("mode", e.policy), { kind: "mode", ...e });
  }

  async scheduleSet(e: Omit<ScheduleEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("schedule", e.policy), { kind: "schedule", ...e });
  }

  async unfinished(): Promise<{ moves: MoveEntry[]; drains: DrainEntry[]; modes: ModeEntry[]; schedules: ScheduleEntry[] }> {
    const out = { moves: [] as MoveEntry[], drains: [] as DrainEntry[], modes: [] as ModeEntry[], schedules: [] as ScheduleEntry[] };
    for (const k of await this.kv.keys(`${this.cluster}.>`)) {
      const e = await this.kv.get(k);
      if (e?.kind === "move") out.moves.push(e);
      if (e?.kind === "drain") out.drains.push(e);
      if (e?.kind === "mode") out.modes.push(e);
      if (e?.kind === "schedule") out.schedules.push(e);
    }
    return out;
  }

  private key(kind: z.output<typeof Entry>["kind"], id: string): string {
    return `${this.cluster}.${kind}.${id}`;
  }
}

/**
 * Adds to the store what a previous leader journaled and this store does not know: moves as
 * `dispatched` (reconciliation asks their source agent about them), drains as open maintenance.
 */
export function importUnfinished(
  j: { moves: MoveEntry[]; drains: DrainEntry[] },
  store: Store,
  vmName: (uuid: string) => string,
  now: number,
  log: Logger,
): { moves: number; drains: number } {
  const n = { moves: 0, drains: 0 };
  for (const e of j.moves) {
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
    n.moves++;
  }
  for (const e of j.drains) {
    if (store.maintenance.active(e.host) || store.maintenance.get(e.maintenanceId)) continue;
    store.maintenance.request({ id: e.maintenanceId, host: e.host, requestedBy: e.requestedBy, powerOff: e.powerOff, atMs: e.atMs });
    n.drains++;
  }
  if (n.moves + n.drains > 0) log.info(n, "imported moves in flight and open drains from the previous leader");
  return n;
}

type RunTimeModes = Pick<Modes, "modes" | "window" | "set" | "schedules" | "setSchedule">;

/** The API's modes and schedules with each run-time change journaled after it is applied here (a failed write is logged). */
export function journaledModes(m: RunTimeModes, journal: Journal, clock: Clock, log: Logger): RunTimeModes {
  return {
    get modes() {
      return m.modes;
    },
    window: () => m.window(),
    set: (kind, mode, by) => {
      const out = m.set(kind, mode, by);
      journal
        .modeSet({ policy: kind, mode, by, atMs: clock.now() })
        .catch((err: unknown) => log.warn({ err, kind }, "could not journal a mode change; a next leader will not know it"));
      return out;
    },
    get schedules() {
      return m.schedules;
    },
    setSchedule: (kind, window, by) => {
      const out = m.setSchedule(kind, window, by);
      journal
        .scheduleSet({ policy: kind, window, by, atMs: clock.now() })
        .catch((err: unknown) => log.warn({ err, kind }, "could not journal a schedule change; a next leader will not know it"));
      return out;
    },
  };
}

type Drains = Pick<Maintenance, "drain" | "undrain" | "get" | "toApi">;

/**
 * The API's view of maintenance with each drain and undrain journaled after it is applied here. A
 * failed write is logged: the drain goes on under this leader, and a next one would not know it.
 */
export function journaledDrains(m: Drains, journal: Journal, log: Logger): Drains {
  const warn = (host: string) => (err: unknown) =>
    log.warn({ err, host }, "could not journal a drain change; a next leader will not know it");
  return {
    drain: (host, powerOff, by) => {
      const row = m.drain(host, powerOff, by);
      journal.drainOpened({ maintenanceId: row.id, host, powerOff, requestedBy: by, atMs: row.createdMs }).catch(warn(host));
      return row;
    },
    undrain: (host, by) => {
      const row = m.undrain(host, by);
      journal.drainClosed(host).catch(warn(host));
      return row;
    },
    get: (id) => m.get(id),
    toApi: (row) => m.toApi(row),
  };
}

/** What the agent client calls before it sends a migrate command: the journal entry. */
export function recordMigrate(journal: Journal, sentBy: string, clock: Clock) {
  return (host: string, cmd: Extract<CommandInput, { kind: "migrate" }>): Promise<void> => {
    if (cmd.leaseRevision === undefined) throw new Error("a journaled migrate command must carry the lease revision");
    return journal.moveSending({
      migrationId: cmd.migrationId,
      commandId: cmd.id,
      vmUuid: cmd.vm,
      source: host,
      destination: cmd.destination.host,
      sentAtMs: clock.now(),
      sentBy,
      leaseRevision: cmd.leaseRevision,
    });
  };
}

/** Removes each move from the journal when it ends; only the leader writes. */
export function forgetEndedMoves(events: MigrationEvents, journal: Journal, leading: () => boolean, log: Logger): void {
  events.onFinished((row) => {
    if (!leading()) return;
    journal
      .moveEnded(row.id)
      .catch((err: unknown) => log.warn({ err, migration: row.id }, "could not remove an ended move from the journal"));
  });
}
