import type Database from "better-sqlite3";
import { HostStates, type HostState } from "@drover/protocol";
import { epochMs, epochMsOrNull, fromJson, oneOf, text, textOrNull, toJson } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import type { HostReportRow, HostRow } from "../types.js";
import type { HostEvents } from "./host-events.js";

interface HostSql {
  id: string;
  cluster: string;
  state: string;
  state_reason: string | null;
  state_since_ms: number;
  last_report_ms: number | null;
  migration_uri: string | null;
  wake: string;
  capacity: string;
  updated_ms: number;
}

function toRow(r: HostSql): HostRow {
  return {
    id: r.id,
    cluster: r.cluster,
    state: r.state as HostState,
    stateReason: r.state_reason,
    stateSinceMs: r.state_since_ms,
    lastReportMs: r.last_report_ms,
    migrationUri: r.migration_uri,
    wake: fromJson("hosts", r.id, "wake", r.wake),
    capacity: fromJson("hosts", r.id, "capacity", r.capacity),
    updatedMs: r.updated_ms,
  };
}

export class Hosts {
  readonly #upsert: Database.Statement;
  readonly #report: Database.Statement;
  readonly #get: Database.Statement<[string], HostSql>;
  readonly #list: Database.Statement<[], HostSql>;
  readonly #setState: Database.Statement;
  readonly #remove: Database.Statement<[string]>;
  readonly #setStateTx: (id: string, state: HostState, reason: string | null, atMs: number) => void;

  constructor(db: Database.Database, events: HostEvents) {
    this.#upsert = db.prepare(`
      INSERT INTO hosts (id, cluster, state, state_reason, state_since_ms, last_report_ms, migration_uri, wake, capacity, updated_ms)
      VALUES (@id, @cluster, @state, @stateReason, @stateSinceMs, @lastReportMs, @migrationUri, @wake, @capacity, @updatedMs)
      ON CONFLICT (id) DO UPDATE SET
        cluster = excluded.cluster, state = excluded.state, state_reason = excluded.state_reason,
        state_since_ms = excluded.state_since_ms, last_report_ms = excluded.last_report_ms,
        migration_uri = excluded.migration_uri, wake = excluded.wake, capacity = excluded.capacity,
        updated_ms = excluded.updated_ms`);
    // A report refreshes what the agent knows; the state is the scheduler's and stays as it is.
    this.#report = db.prepare(`
      INSERT INTO hosts (id, cluster, state, state_reason, state_since_ms, last_report_ms, migration_uri, wake, capacity, updated_ms)
      VALUES (@id, @cluster, 'healthy', 'first report', @atMs, @atMs, @migrationUri, @wake, @capacity, @atMs)
      ON CONFLICT (id) DO UPDATE SET
        cluster = excluded.cluster, last_report_ms = max(coalesce(last_report_ms, 0), excluded.last_report_ms),
        migration_uri = excluded.migration_uri, wake = excluded.wake, capacity = excluded.capacity,
        updated_ms = excluded.updated_ms`);
    this.#get = db.prepare("SELECT * FROM hosts WHERE id = ?");
    this.#remove = db.prepare("DELETE FROM hosts WHERE id = ?");
    this.#list = db.prepare("SELECT * FROM hosts ORDER BY id");
    this.#setState = db.prepare(`
      UPDATE hosts SET
        state_since_ms = CASE WHEN state = @state THEN state_since_ms ELSE @atMs END,
        state = @state, state_reason = @reason, updated_ms = @atMs
      WHERE id = @id`);
    // The change and its history entry are one write: the history never misses or invents a change.
    this.#setStateTx = db.transaction((id: string, state: HostState, reason: string | null, atMs: number) => {
      const before = this.#get.get(id);
      if (!before) throw new StoreError(StoreErrorCodes.NotFound, `hosts.setState: no host '${id}'`);
      this.#setState.run({ id, state, reason, atMs });
      if (before.state !== state)
        events.record({ atMs, host: id, event: "state", fromState: before.state as HostState, toState: state, detail: reason ?? "" });
    });
  }

  /** Writes the whole row (insert or replace). */
  upsert(h: HostRow): void {
    const w = "hosts.upsert";
    this.#upsert.run({
      id: text(w, "id", h.id),
      cluster: text(w, "cluster", h.cluster),
      state: oneOf(w, "state", HostStates, h.state),
      stateReason: textOrNull(w, "stateReason", h.stateReason),
      stateSinceMs: epochMs(w, "stateSinceMs", h.stateSinceMs),
      lastReportMs: epochMsOrNull(w, "lastReportMs", h.lastReportMs),
      migrationUri: textOrNull(w, "migrationUri", h.migrationUri),
      wake: toJson(w, "wake", h.wake),
      capacity: toJson(w, "capacity", h.capacity),
      updatedMs: epochMs(w, "updatedMs", h.updatedMs),
    });
  }

  /** Records a host report: creates the host as 'healthy' the first time, never touches its state after. */
  reported(r: HostReportRow): void {
    const w = "hosts.reported";
    this.#report.run({
      id: text(w, "id", r.id),
      cluster: text(w, "cluster", r.cluster),
      atMs: epochMs(w, "atMs", r.atMs),
      migrationUri: textOrNull(w, "migrationUri", r.migrationUri),
      wake: toJson(w, "wake", r.wake),
      capacity: toJson(w, "capacity", r.capacity),
    });
  }

  get(id: string): HostRow | undefined {
    const r = this.#get.get(id);
    return r && toRow(r);
  }

  list(): HostRow[] {
    return this.#list.all().map(toRow);
  }

  /** Forgets a decommissioned host; its history (migrations, power actions) stays. */
  remove(id: string): boolean {
    return this.#remove.run(id).changes > 0;
  }

  /** Changes the state; stateSinceMs moves, and a host event is recorded, only when the state actually changes. */
  setState(id: string, state: HostState, reason: string | null, atMs: number): void {
    const w = "hosts.setState";
    this.#setStateTx(id, oneOf(w, "state", HostStates, state), textOrNull(w, "reason", reason), epochMs(w, "atMs", atMs));
  }
}
