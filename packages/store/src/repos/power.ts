import type Database from "better-sqlite3";
import { anyText, epochMs, errorRecordOrNull, fromJson, oneOf, rethrowConflict, text } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import {
  OpenPowerStatuses,
  PowerActions,
  PowerStatuses,
  type ErrorRecord,
  type PowerAction,
  type PowerInput,
  type PowerPatch,
  type PowerRow,
  type PowerStatus,
} from "../types.js";

interface PowerSql {
  id: string;
  host: string;
  action: string;
  method: string;
  requested_by: string;
  reason: string;
  status: string;
  error: string | null;
  created_ms: number;
  updated_ms: number;
}

const open: ReadonlySet<string> = new Set(OpenPowerStatuses);
const openSql = OpenPowerStatuses.map((s) => `'${s}'`).join(", ");

function toRow(r: PowerSql): PowerRow {
  return {
    id: r.id,
    host: r.host,
    action: r.action as PowerAction,
    method: r.method,
    requestedBy: r.requested_by,
    reason: r.reason,
    status: r.status as PowerStatus,
    error: fromJson("power_actions", r.id, "error", r.error) as ErrorRecord | null,
    createdMs: r.created_ms,
    updatedMs: r.updated_ms,
  };
}

export class Power {
  readonly #insert: Database.Statement;
  readonly #update: Database.Statement;
  readonly #get: Database.Statement<[string], PowerSql>;
  readonly #open: Database.Statement<[], PowerSql>;
  readonly #list: Database.Statement<{ host: string | null; since: number | null; limit: number }, PowerSql>;
  readonly #updateTx: (id: string, patch: PowerPatch) => PowerRow;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO power_actions (id, host, action, method, requested_by, reason, status, error, created_ms, updated_ms)
      VALUES (@id, @host, @action, @method, @requestedBy, @reason, @status, @error, @atMs, @atMs)`);
    this.#update = db.prepare(
      "UPDATE power_actions SET status = @status, method = @method, error = @error, updated_ms = @updatedMs WHERE id = @id",
    );
    this.#get = db.prepare("SELECT * FROM power_actions WHERE id = ?");
    this.#open = db.prepare(`SELECT * FROM power_actions WHERE status IN (${openSql}) ORDER BY created_ms, id`);
    this.#list = db.prepare(`
      SELECT * FROM power_actions WHERE (@host IS NULL OR host = @host) AND (@since IS NULL OR created_ms >= @since)
      ORDER BY created_ms DESC, id DESC LIMIT @limit`);

    this.#updateTx = db.transaction((id: string, patch: PowerPatch): PowerRow => {
      const w = "power.update";
      const cur = this.#get.get(id);
      if (!cur) throw new StoreError(StoreErrorCodes.NotFound, `${w}: no power action '${id}'`);
      const row = toRow(cur);
      const status = patch.status === undefined ? row.status : oneOf(w, "status", PowerStatuses, patch.status);
      if (!open.has(row.status) && status !== row.status) {
        throw new StoreError(StoreErrorCodes.InvalidTransition, `${w}: power action '${id}' already ended as ${row.status}`);
      }
      this.#update.run({
        id,
        status,
        method: patch.method === undefined ? row.method : text(w, "method", patch.method),
        error: errorRecordOrNull(w, "error", patch.error === undefined ? row.error : patch.error),
        updatedMs: patch.atMs === undefined ? row.updatedMs : epochMs(w, "atMs", patch.atMs),
      });
      return toRow(this.#get.get(id) as PowerSql);
    });
  }

  record(p: PowerInput): PowerRow {
    const w = "power.record";
    const id = text(w, "id", p.id);
    try {
      this.#insert.run({
        id,
        host: text(w, "host", p.host),
        action: oneOf(w, "action", PowerActions, p.action),
        method: text(w, "method", p.method),
        requestedBy: text(w, "requestedBy", p.requestedBy),
        reason: anyText(w, "reason", p.reason),
        status: oneOf(w, "status", PowerStatuses, p.status ?? "requested"),
        error: errorRecordOrNull(w, "error", p.error),
        atMs: epochMs(w, "atMs", p.atMs),
      });
    } catch (err) {
      rethrowConflict(err, `${w}: power action '${id}'`);
    }
    return this.get(id) as PowerRow;
  }

  get(id: string): PowerRow | undefined {
    const r = this.#get.get(id);
    return r && toRow(r);
  }

  /** Requested or sent, not yet confirmed: after a restart, check each against the host's reports. */
  open(): PowerRow[] {
    return this.#open.all().map(toRow);
  }

  update(id: string, patch: PowerPatch): PowerRow {
    return this.#updateTx(id, patch);
  }

  /** Newest first. */
  list(opts: { host?: string; since?: number; limit?: number } = {}): PowerRow[] {
    return this.#list.all({ host: opts.host ?? null, since: opts.since ?? null, limit: opts.limit ?? 100 }).map(toRow);
  }
}
