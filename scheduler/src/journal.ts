// What must survive the leader, in a replicated JetStream KV bucket (with leadership on): every
// migrate command, written before it is sent and removed when its move ends, every open drain,
// written when requested and removed on undrain, the last run-time mode and schedule of each policy,
// every plan awaiting approval while it does, and every power action while it is open. A new leader
// imports what its own store lacks, so reconciliation asks the source agent about each move by command
// id (never sending it again), the drain goes on, the modes and schedules stay, a proposed plan can be
// approved there and a wake or power-off under way is judged there. SQLite stays each scheduler's own
// view and history. An entry that ends is removed with nothing left of it in the stream (a deleted
// key's marker would stay for ever, one per move ever made, and slow every takeover's listing).
import { z } from "zod";
import { journalBucket, type Bus, type TypedKv } from "@drover/bus";
import {
  ClusterName,
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
import { PlanModes, PowerActions, StepActions, type PlanRow, type PowerRow, type Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { Maintenance } from "./maintenance.js";
import type { MigrationEvents } from "./migration-events.js";
import type { Modes } from "./modes.js";
import type { PowerJournal } from "./power/power-manager.js";

export const MoveEntry = z.object({
  kind: z.literal("move"),
  migrationId: Id,
  commandId: Id,
  vmUuid: VmRef,
  source: HostId,
  destination: HostId,
  /** The destination's cluster of a move across clusters (absent: this cluster). */
  destinationCluster: ClusterName.optional(),
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
  /** A drain to another cluster (`drover drain --to-cluster`); absent: to this cluster's hosts. */
  toCluster: ClusterName.optional(),
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

const Nullable = <T extends z.ZodType>(t: T) => t.nullable().default(null);
const StepEntry = z.object({
  index: z.number().int().nonnegative(),
  action: z.enum(StepActions),
  vmUuid: Nullable(z.string()),
  vmName: Nullable(z.string()),
  source: Nullable(z.string()),
  destination: Nullable(z.string()),
  host: Nullable(z.string()),
  reason: z.string(),
  predictedDurationMs: Nullable(z.number()),
  predictedDowntimeMs: Nullable(z.number()),
  detail: z.json(),
});

/** A plan awaiting approval (recommend mode): kept while it is proposed, so the next leader can run it. */
export const PlanEntry = z.object({
  kind: z.literal("plan"),
  id: Id,
  planKind: z.string().min(1).max(64),
  createdMs: z.number().int().nonnegative(),
  mode: z.enum(PlanModes),
  requestedBy: z.string().min(1),
  summary: z.string(),
  explanation: z.json(),
  steps: z.array(StepEntry),
});
export type PlanEntry = z.output<typeof PlanEntry>;

/** A power action under way (a wake waiting for the host's report, a power-off for its silence). */
export const PowerEntry = z.object({
  kind: z.literal("power"),
  id: Id,
  host: HostId,
  action: z.enum(PowerActions),
  method: z.string().min(1),
  requestedBy: z.string().min(1),
  reason: z.string(),
  atMs: z.number().int().nonnegative(),
});
export type PowerEntry = z.output<typeof PowerEntry>;

const Entry = z.discriminatedUnion("kind", [MoveEntry, DrainEntry, ModeEntry, ScheduleEntry, PlanEntry, PowerEntry]);
type EntryKind = z.output<typeof Entry>["kind"];

export interface Unfinished {
  moves: MoveEntry[];
  drains: DrainEntry[];
  modes: ModeEntry[];
  schedules: ScheduleEntry[];
  plans: PlanEntry[];
  power: PowerEntry[];
}

export class Journal {
  private constructor(
    private readonly kv: TypedKv<typeof Entry>,
    private readonly cluster: string,
  ) {}

  static async open(bus: Bus, cluster: string, replicas: number): Promise<Journal> {
    return new Journal(await bus.jetstream.kv(journalBucket(cluster), Entry, { replicas, history: 1 }), cluster);
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
    await this.kv.remove(this.key("move", migrationId));
  }

  async drainOpened(e: Omit<DrainEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("drain", e.host), { kind: "drain", ...e });
  }

  async drainClosed(host: string): Promise<void> {
    await this.kv.remove(this.key("drain", host));
  }

  async modeSet(e: Omit<ModeEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("mode", e.policy), { kind: "mode", ...e });
  }

  async scheduleSet(e: Omit<ScheduleEntry, "kind">): Promise<void> {
    await this.kv.put(this.key("schedule", e.policy), { kind: "schedule", ...e });
  }

  async planProposed(p: PlanRow): Promise<void> {
    const { id, kind, createdMs, mode, requestedBy, summary, explanation, steps } = p;
    const entry = { kind: "plan" as const, id, planKind: kind, createdMs, mode, requestedBy, summary, explanation };
    await this.kv.put(this.key("plan", id), { ...entry, steps: steps.map(({ status: _s, migrationId: _m, ...step }) => step) });
  }

  async planClosed(id: string): Promise<void> {
    await this.kv.remove(this.key("plan", id));
  }

  async powerOpened(r: PowerRow): Promise<void> {
    const { id, host, action, method, requestedBy, reason, createdMs } = r;
    await this.kv.put(this.key("power", id), { kind: "power", id, host, action, method, requestedBy, reason, atMs: createdMs });
  }

  async powerEnded(id: string): Promise<void> {
    await this.kv.remove(this.key("power", id));
  }

  /**
   * Everything open, read from the bucket's stream leader: a replica may not have applied the last
   * entries the previous leader wrote, and a move missed here would be neither reconciled nor fenced.
   */
  async unfinished(): Promise<Unfinished> {
    const out: Unfinished = { moves: [], drains: [], modes: [], schedules: [], plans: [], power: [] };
    for (const { value: e } of await this.kv.readFromLeader(`${this.cluster}.>`)) {
      if (e.kind === "move") out.moves.push(e);
      if (e.kind === "drain") out.drains.push(e);
      if (e.kind === "mode") out.modes.push(e);
      if (e.kind === "schedule") out.schedules.push(e);
      if (e.kind === "plan") out.plans.push(e);
      if (e.kind === "power") out.power.push(e);
    }
    return out;
  }

  private key(kind: EntryKind, id: string): string {
    return `${this.cluster}.${kind}.${id}`;
  }
}

/**
 * Adds to the store what a previous leader journaled and this store does not know: moves as
 * `dispatched` (reconciliation asks their source agent about them), drains as open maintenance,
 * plans awaiting approval as proposed, power actions as open (the power manager judges them).
 * The journal is the record of what awaits approval: a plan this store still holds as proposed but
 * the journal no longer does was decided by another leader meanwhile, so it is superseded here.
 */
export function importUnfinished(
  j: Pick<Unfinished, "moves" | "drains" | "plans" | "power">,
  store: Store,
  vmName: (uuid: string) => string,
  now: number,
  log: Logger,
): { moves: number; drains: number; plans: number; power: number; superseded: number } {
  const n = { moves: 0, drains: 0, plans: 0, power: 0, superseded: 0 };
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
      destinationCluster: e.destinationCluster ?? null,
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
    // Where the drain sends the VMs is in its detail (maintenance.ts), as the previous leader kept it.
    if (e.toCluster) store.maintenance.update(e.maintenanceId, { blockers: { toCluster: e.toCluster } as never, atMs: now });
    n.drains++;
  }
  const journaled = new Set(j.plans.map((p) => p.id));
  for (const p of store.plans.list({ status: "proposed", limit: 1000 })) {
    if (journaled.has(p.id)) continue;
    store.plans.setStatus(p.id, "superseded", now);
    n.superseded++;
  }
  for (const e of j.plans) {
    if (store.plans.get(e.id)) continue;
    const { id, planKind, createdMs, mode, requestedBy, summary, explanation, steps } = e;
    store.plans.insert({ id, kind: planKind, createdMs, mode, status: "proposed", requestedBy, summary, explanation, steps });
    n.plans++;
  }
  for (const e of j.power) {
    if (store.power.get(e.id)) continue;
    const { id, host, action, method, requestedBy, reason, atMs } = e;
    store.power.record({ id, host, action, method, requestedBy, reason, status: "requested", atMs });
    n.power++;
  }
  if (n.moves + n.drains + n.plans + n.power + n.superseded > 0)
    log.info(
      n,
      "imported moves in flight and open drains from the previous leader, with its plans awaiting approval and power actions under way",
    );
  return n;
}

/**
 * Keeps the journal's plans awaiting approval equal to this store's, once per tick of the leader:
 * plans are proposed and decided in several places (the planner's rounds, maintenance, the API),
 * and a proposed plan has no deadline that a second of lag would miss.
 */
export class ProposedPlans {
  private journaled = new Set<string>();

  constructor(
    private readonly journal: Journal,
    private readonly log: Logger,
  ) {}

  /** On taking charge, after the import: what the journal holds now is what this store proposes. */
  reset(ids: Iterable<string>): void {
    this.journaled = new Set(ids);
  }

  /** `proposed`: the store's plans awaiting approval now (the planner's tick reads them). */
  sync(proposed: readonly PlanRow[]): void {
    const ids = new Set(proposed.map((p) => p.id));
    for (const p of proposed) {
      if (this.journaled.has(p.id)) continue;
      this.journaled.add(p.id);
      // Not written again (a plan too large for the bucket would fail every tick): it stays here.
      this.journal
        .planProposed(p)
        .catch((err: unknown) =>
          this.log.warn({ err, plan: p.id }, "could not journal a plan awaiting approval; a next leader will not know it"),
        );
    }
    for (const id of this.journaled) {
      if (ids.has(id)) continue;
      this.journaled.delete(id);
      // Tried again next tick: a decided plan left in the journal would be proposed again by the next leader.
      this.journal.planClosed(id).catch((err: unknown) => {
        this.journaled.add(id);
        this.log.warn({ err, plan: id }, "could not remove a decided plan from the journal; trying again");
      });
    }
  }
}

/** What the power manager calls when an action opens and ends; only the leader writes (a failed write is logged). */
export function journaledPower(journal: Journal, leading: () => boolean, log: Logger): PowerJournal {
  const warn = (row: PowerRow) => (err: unknown) =>
    log.warn({ err, host: row.host, action: row.action }, "could not journal a power action; a next leader will not know it");
  return {
    opened: (row) => void (leading() && journal.powerOpened(row).catch(warn(row))),
    ended: (row) => void (leading() && journal.powerEnded(row.id).catch(warn(row))),
  };
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
    drain: (host, powerOff, by, toCluster) => {
      const row = m.drain(host, powerOff, by, toCluster);
      journal
        .drainOpened({ maintenanceId: row.id, host, powerOff, ...(toCluster ? { toCluster } : {}), requestedBy: by, atMs: row.createdMs })
        .catch(warn(host));
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
      ...(cmd.destination.cluster ? { destinationCluster: cmd.destination.cluster } : {}),
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
