import type Database from "better-sqlite3";
import {
  amountOrNull,
  anyText,
  epochMs,
  epochMsOrNull,
  errorRecordOrNull,
  fromJson,
  oneOf,
  positiveCount,
  rethrowConflict,
  stringArray,
  text,
  textOrNull,
  toJson,
} from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import {
  FailedMigrationStatuses,
  InFlightMigrationStatuses,
  MigrationStatuses,
  type ErrorRecord,
  type MigrationInput,
  type MigrationPatch,
  type MigrationRow,
  type MigrationStatus,
} from "../types.js";

interface MigrationSql {
  id: string;
  command_id: string;
  plan_id: string | null;
  vm_uuid: string;
  vm_name: string;
  source: string;
  destination: string;
  destination_cluster: string | null;
  requested_by: string;
  reason: string;
  status: string;
  predicted_duration_ms: number | null;
  predicted_downtime_ms: number | null;
  strategy: string | null;
  concurrent: number;
  measured_duration_ms: number | null;
  measured_downtime_ms: number | null;
  bytes_moved: number | null;
  completed_by: string | null;
  escalations: string;
  error: string | null;
  created_ms: number;
  started_ms: number | null;
  ended_ms: number | null;
  updated_ms: number;
}

export interface MigrationQuery {
  /** Default 100. */
  limit?: number;
  /** VM uuid. */
  vm?: string;
  /** Source or destination. */
  host?: string;
  /** createdMs >= since. */
  since?: number;
  status?: MigrationStatus;
}

const inFlight: ReadonlySet<string> = new Set(InFlightMigrationStatuses);
const inFlightSql = InFlightMigrationStatuses.map((s) => `'${s}'`).join(", ");
const failedSql = FailedMigrationStatuses.map((s) => `'${s}'`).join(", ");

export function isMigrationInFlight(status: MigrationStatus): boolean {
  return inFlight.has(status);
}

function toRow(r: MigrationSql): MigrationRow {
  return {
    id: r.id,
    commandId: r.command_id,
    planId: r.plan_id,
    vmUuid: r.vm_uuid,
    vmName: r.vm_name,
    source: r.source,
    destination: r.destination,
    destinationCluster: r.destination_cluster,
    requestedBy: r.requested_by,
    reason: r.reason,
    status: r.status as MigrationStatus,
    predictedDurationMs: r.predicted_duration_ms,
    predictedDowntimeMs: r.predicted_downtime_ms,
    strategy: r.strategy,
    concurrent: r.concurrent,
    measuredDurationMs: r.measured_duration_ms,
    measuredDowntimeMs: r.measured_downtime_ms,
    bytesMoved: r.bytes_moved,
    completedBy: r.completed_by,
    escalations: fromJson("migrations", r.id, "escalations", r.escalations) as string[],
    error: fromJson("migrations", r.id, "error", r.error) as ErrorRecord | null,
    createdMs: r.created_ms,
    startedMs: r.started_ms,
    endedMs: r.ended_ms,
    updatedMs: r.updated_ms,
  };
}

const columns = `id, command_id, plan_id, vm_uuid, vm_name, source, destination, destination_cluster, requested_by, reason, status,
  predicted_duration_ms, predicted_downtime_ms, strategy, concurrent, measured_duration_ms, measured_downtime_ms, bytes_moved,
  completed_by, escalations, error, created_ms, started_ms, ended_ms, updated_ms`;
const values = `@id, @commandId, @planId, @vmUuid, @vmName, @source, @destination, @destinationCluster, @requestedBy, @reason, @status,
  @predictedDurationMs, @predictedDowntimeMs, @strategy, @concurrent, @measuredDurationMs, @measuredDowntimeMs, @bytesMoved,
  @completedBy, @escalations, @error, @createdMs, @startedMs, @endedMs, @updatedMs`;

export class Migrations {
  readonly #insert: Database.Statement;
  readonly #update: Database.Statement;
  readonly #get: Database.Statement<[string], MigrationSql>;
  readonly #byCommand: Database.Statement<[string], MigrationSql>;
  readonly #query: Database.Statement<Record<string, unknown>, MigrationSql>;
  readonly #inFlight: Database.Statement<[], MigrationSql>;
  readonly #lastFailure: Database.Statement<[string, string], MigrationSql>;
  readonly #updateTx: (id: string, patch: MigrationPatch) => MigrationRow;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`INSERT INTO migrations (${columns}) VALUES (${values})`);
    this.#update = db.prepare(`
      UPDATE migrations SET status = @status, predicted_duration_ms = @predictedDurationMs,
        predicted_downtime_ms = @predictedDowntimeMs, strategy = @strategy, concurrent = @concurrent, measured_duration_ms = @measuredDurationMs,
        measured_downtime_ms = @measuredDowntimeMs, bytes_moved = @bytesMoved, completed_by = @completedBy,
        escalations = @escalations, error = @error, started_ms = @startedMs, ended_ms = @endedMs, updated_ms = @updatedMs
      WHERE id = @id`);
    this.#get = db.prepare("SELECT * FROM migrations WHERE id = ?");
    this.#byCommand = db.prepare("SELECT * FROM migrations WHERE command_id = ?");
    // One statement for every filter combination: a NULL parameter disables its filter.
    this.#query = db.prepare(`
      SELECT * FROM migrations
      WHERE (@vm IS NULL OR vm_uuid = @vm)
        AND (@host IS NULL OR source = @host OR destination = @host)
        AND (@since IS NULL OR created_ms >= @since)
        AND (@status IS NULL OR status = @status)
      ORDER BY created_ms DESC, id DESC LIMIT @limit`);
    this.#inFlight = db.prepare(`SELECT * FROM migrations WHERE status IN (${inFlightSql}) ORDER BY created_ms, id`);
    this.#lastFailure = db.prepare(`
      SELECT * FROM migrations WHERE vm_uuid = ? AND destination = ? AND status IN (${failedSql})
      ORDER BY coalesce(ended_ms, updated_ms) DESC, id DESC LIMIT 1`);

    this.#updateTx = db.transaction((id: string, patch: MigrationPatch): MigrationRow => {
      const w = "migrations.update";
      const cur = this.#get.get(id);
      if (!cur) throw new StoreError(StoreErrorCodes.NotFound, `${w}: no migration '${id}'`);
      const row = toRow(cur);
      const status = patch.status === undefined ? row.status : oneOf(w, "status", MigrationStatuses, patch.status);
      // A finished migration is history: reviving it is how a move would get repeated blindly.
      if (!inFlight.has(row.status) && status !== row.status) {
        throw new StoreError(
          StoreErrorCodes.InvalidTransition,
          `${w}: migration '${id}' already ended as ${row.status}; it cannot become ${status}`,
        );
      }
      // undefined leaves a field as it is; null clears it.
      const pick = (k: keyof MigrationPatch, was: unknown): unknown => (patch[k] === undefined ? was : patch[k]);
      const next = {
        id,
        status,
        predictedDurationMs: amountOrNull(w, "predictedDurationMs", pick("predictedDurationMs", row.predictedDurationMs)),
        predictedDowntimeMs: amountOrNull(w, "predictedDowntimeMs", pick("predictedDowntimeMs", row.predictedDowntimeMs)),
        strategy: textOrNull(w, "strategy", pick("strategy", row.strategy)),
        concurrent: positiveCount(w, "concurrent", pick("concurrent", row.concurrent)),
        measuredDurationMs: amountOrNull(w, "measuredDurationMs", pick("measuredDurationMs", row.measuredDurationMs)),
        measuredDowntimeMs: amountOrNull(w, "measuredDowntimeMs", pick("measuredDowntimeMs", row.measuredDowntimeMs)),
        bytesMoved: amountOrNull(w, "bytesMoved", pick("bytesMoved", row.bytesMoved)),
        completedBy: textOrNull(w, "completedBy", pick("completedBy", row.completedBy)),
        escalations: toJson(w, "escalations", stringArray(w, "escalations", pick("escalations", row.escalations) ?? [])),
        error: errorRecordOrNull(w, "error", pick("error", row.error)),
        startedMs: epochMsOrNull(w, "startedMs", pick("startedMs", row.startedMs)),
        endedMs: epochMsOrNull(w, "endedMs", pick("endedMs", row.endedMs)),
        updatedMs: patch.atMs === undefined ? row.updatedMs : epochMs(w, "atMs", patch.atMs),
      };
      this.#update.run(next);
      return toRow(this.#get.get(id) as MigrationSql);
    });
  }

  insert(m: MigrationInput): void {
    const w = "migrations.insert";
    const createdMs = epochMs(w, "createdMs", m.createdMs);
    const row = {
      id: text(w, "id", m.id),
      commandId: text(w, "commandId", m.commandId),
      planId: textOrNull(w, "planId", m.planId),
      vmUuid: text(w, "vmUuid", m.vmUuid),
      vmName: text(w, "vmName", m.vmName),
      source: text(w, "source", m.source),
      destination: text(w, "destination", m.destination),
      destinationCluster: textOrNull(w, "destinationCluster", m.destinationCluster ?? null),
      requestedBy: text(w, "requestedBy", m.requestedBy),
      reason: anyText(w, "reason", m.reason),
      status: oneOf(w, "status", MigrationStatuses, m.status ?? "pending"),
      predictedDurationMs: amountOrNull(w, "predictedDurationMs", m.predictedDurationMs),
      predictedDowntimeMs: amountOrNull(w, "predictedDowntimeMs", m.predictedDowntimeMs),
      strategy: textOrNull(w, "strategy", m.strategy),
      concurrent: positiveCount(w, "concurrent", m.concurrent ?? 1),
      measuredDurationMs: amountOrNull(w, "measuredDurationMs", m.measuredDurationMs),
      measuredDowntimeMs: amountOrNull(w, "measuredDowntimeMs", m.measuredDowntimeMs),
      bytesMoved: amountOrNull(w, "bytesMoved", m.bytesMoved),
      completedBy: textOrNull(w, "completedBy", m.completedBy),
      escalations: toJson(w, "escalations", stringArray(w, "escalations", m.escalations ?? [])),
      error: errorRecordOrNull(w, "error", m.error),
      createdMs,
      startedMs: epochMsOrNull(w, "startedMs", m.startedMs),
      endedMs: epochMsOrNull(w, "endedMs", m.endedMs),
      updatedMs: m.updatedMs === undefined ? createdMs : epochMs(w, "updatedMs", m.updatedMs),
    };
    try {
      this.#insert.run(row);
    } catch (err) {
      rethrowConflict(err, `${w}: migration '${row.id}' (command '${row.commandId}'): duplicate id or command id, or unknown planId`);
    }
  }

  get(id: string): MigrationRow | undefined {
    const r = this.#get.get(id);
    return r && toRow(r);
  }

  /** Replies and progress carry the command id; this finds the migration they belong to. */
  byCommandId(commandId: string): MigrationRow | undefined {
    const r = this.#byCommand.get(commandId);
    return r && toRow(r);
  }

  /** Newest first. */
  list(q: MigrationQuery = {}): MigrationRow[] {
    return this.#query
      .all({
        vm: q.vm ?? null,
        host: q.host ?? null,
        since: q.since ?? null,
        status: q.status === undefined ? null : oneOf("migrations.list", "status", MigrationStatuses, q.status),
        limit: q.limit ?? 100,
      })
      .map(toRow);
  }

  /** Not finished, oldest first: after a restart, ask the agents about each (by command id) before anything else. */
  inFlight(): MigrationRow[] {
    return this.#inFlight.all().map(toRow);
  }

  /**
   * Applies the fields of `patch` that are not undefined (null clears one) and returns the new row.
   * Refuses to change the status of a migration that already ended.
   */
  update(id: string, patch: MigrationPatch): MigrationRow {
    return this.#updateTx(id, patch);
  }

  /** The latest failed, aborted or timed-out move of this VM to this destination: the cool-down starts at its end. */
  lastFailure(vmUuid: string, destination: string): MigrationRow | undefined {
    const r = this.#lastFailure.get(vmUuid, destination);
    return r && toRow(r);
  }
}
