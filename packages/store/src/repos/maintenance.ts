import type Database from "better-sqlite3";
import { bool, epochMs, epochMsOrNull, fromJson, oneOf, rethrowConflict, text, toJson } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import {
  ActiveMaintenanceStatuses,
  MaintenanceStatuses,
  type MaintenancePatch,
  type MaintenanceRequest,
  type MaintenanceRow,
  type MaintenanceStatus,
} from "../types.js";

interface MaintenanceSql {
  id: string;
  host: string;
  requested_by: string;
  power_off: number;
  status: string;
  blockers: string;
  created_ms: number;
  updated_ms: number;
  ended_ms: number | null;
}

const active: ReadonlySet<string> = new Set(ActiveMaintenanceStatuses);
const activeSql = ActiveMaintenanceStatuses.map((s) => `'${s}'`).join(", ");

function toRow(r: MaintenanceSql): MaintenanceRow {
  return {
    id: r.id,
    host: r.host,
    requestedBy: r.requested_by,
    powerOff: r.power_off !== 0,
    status: r.status as MaintenanceStatus,
    blockers: fromJson("maintenance", r.id, "blockers", r.blockers),
    createdMs: r.created_ms,
    updatedMs: r.updated_ms,
    endedMs: r.ended_ms,
  };
}

export class Maintenance {
  readonly #insert: Database.Statement;
  readonly #update: Database.Statement;
  readonly #get: Database.Statement<[string], MaintenanceSql>;
  readonly #active: Database.Statement<[string], MaintenanceSql>;
  readonly #allActive: Database.Statement<[], MaintenanceSql>;
  readonly #list: Database.Statement<{ host: string | null; since: number | null; limit: number }, MaintenanceSql>;
  readonly #updateTx: (id: string, patch: MaintenancePatch) => MaintenanceRow;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO maintenance (id, host, requested_by, power_off, status, blockers, created_ms, updated_ms, ended_ms)
      VALUES (@id, @host, @requestedBy, @powerOff, 'draining', 'null', @atMs, @atMs, NULL)`);
    this.#update = db.prepare(`
      UPDATE maintenance SET status = @status, blockers = @blockers, power_off = @powerOff, updated_ms = @updatedMs,
        ended_ms = @endedMs
      WHERE id = @id`);
    this.#get = db.prepare("SELECT * FROM maintenance WHERE id = ?");
    this.#active = db.prepare(`SELECT * FROM maintenance WHERE host = ? AND status IN (${activeSql})`);
    this.#allActive = db.prepare(`SELECT * FROM maintenance WHERE status IN (${activeSql}) ORDER BY created_ms, id`);
    this.#list = db.prepare(`
      SELECT * FROM maintenance WHERE (@host IS NULL OR host = @host) AND (@since IS NULL OR created_ms >= @since)
      ORDER BY created_ms DESC, id DESC LIMIT @limit`);

    this.#updateTx = db.transaction((id: string, patch: MaintenancePatch): MaintenanceRow => {
      const w = "maintenance.update";
      const cur = this.#get.get(id);
      if (!cur) throw new StoreError(StoreErrorCodes.NotFound, `${w}: no maintenance '${id}'`);
      const row = toRow(cur);
      const status = patch.status === undefined ? row.status : oneOf(w, "status", MaintenanceStatuses, patch.status);
      if (!active.has(row.status) && status !== row.status) {
        throw new StoreError(
          StoreErrorCodes.InvalidTransition,
          `${w}: maintenance '${id}' of ${row.host} is ${row.status}; request a new one instead of reopening it`,
        );
      }
      const updatedMs = patch.atMs === undefined ? row.updatedMs : epochMs(w, "atMs", patch.atMs);
      const ending = active.has(row.status) && !active.has(status);
      this.#update.run({
        id,
        status,
        blockers: toJson(w, "blockers", patch.blockers === undefined ? row.blockers : patch.blockers),
        powerOff: (patch.powerOff === undefined ? row.powerOff : bool(w, "powerOff", patch.powerOff)) ? 1 : 0,
        updatedMs,
        endedMs: patch.endedMs !== undefined ? epochMsOrNull(w, "endedMs", patch.endedMs) : ending ? updatedMs : row.endedMs,
      });
      return toRow(this.#get.get(id) as MaintenanceSql);
    });
  }

  /** Starts draining `host`. A host has at most one active request: a second one is a conflict. */
  request(r: MaintenanceRequest): MaintenanceRow {
    const w = "maintenance.request";
    const host = text(w, "host", r.host);
    try {
      this.#insert.run({
        id: text(w, "id", r.id),
        host,
        requestedBy: text(w, "requestedBy", r.requestedBy),
        powerOff: bool(w, "powerOff", r.powerOff) ? 1 : 0,
        atMs: epochMs(w, "atMs", r.atMs),
      });
    } catch (err) {
      const open = this.#active.get(host);
      if (open) {
        throw new StoreError(
          StoreErrorCodes.Conflict,
          `${w}: ${host} already has maintenance '${open.id}' (${open.status}, requested by ${open.requested_by})`,
          { cause: err },
        );
      }
      rethrowConflict(err, `${w}: maintenance '${r.id}'`);
    }
    return this.get(r.id) as MaintenanceRow;
  }

  get(id: string): MaintenanceRow | undefined {
    const r = this.#get.get(id);
    return r && toRow(r);
  }

  /** The open request for this host (draining, in-maintenance or blocked), if any. */
  active(host: string): MaintenanceRow | undefined {
    const r = this.#active.get(host);
    return r && toRow(r);
  }

  /** Every open request, oldest first. */
  allActive(): MaintenanceRow[] {
    return this.#allActive.all().map(toRow);
  }

  /** Newest first. */
  list(opts: { host?: string; since?: number; limit?: number } = {}): MaintenanceRow[] {
    return this.#list.all({ host: opts.host ?? null, since: opts.since ?? null, limit: opts.limit ?? 100 }).map(toRow);
  }

  /** Moving to cancelled or returned sets endedMs (unless given); an ended request cannot be reopened. */
  update(id: string, patch: MaintenancePatch): MaintenanceRow {
    return this.#updateTx(id, patch);
  }
}
