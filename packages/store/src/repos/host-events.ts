import type Database from "better-sqlite3";
import { HostStates } from "@drover/protocol";
import { anyText, epochMs, oneOf, text } from "../check.js";
import { HostEventKinds, type HostEventInput, type HostEventRow } from "../types.js";

interface HostEventSql {
  seq: number;
  at_ms: number;
  host: string;
  event: string;
  from_state: string | null;
  to_state: string | null;
  detail: string;
}

function toRow(r: HostEventSql): HostEventRow {
  return {
    seq: r.seq,
    atMs: r.at_ms,
    host: r.host,
    event: r.event as HostEventRow["event"],
    fromState: r.from_state as HostEventRow["fromState"],
    toState: r.to_state as HostEventRow["toState"],
    detail: r.detail,
  };
}

/** What happened to a host: its state as the scheduler derives it, and what its agent announced. */
export class HostEvents {
  readonly #insert: Database.Statement;
  readonly #list: Database.Statement<{ host: string | null; since: number | null; limit: number }, HostEventSql>;
  readonly #bySeq: Database.Statement<[number | bigint], HostEventSql>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO host_events (at_ms, host, event, from_state, to_state, detail)
      VALUES (@atMs, @host, @event, @fromState, @toState, @detail)`);
    this.#list = db.prepare(`
      SELECT * FROM host_events WHERE (@host IS NULL OR host = @host) AND (@since IS NULL OR at_ms >= @since)
      ORDER BY at_ms DESC, seq DESC LIMIT @limit`);
    this.#bySeq = db.prepare("SELECT * FROM host_events WHERE seq = ?");
  }

  record(e: HostEventInput): HostEventRow {
    const w = "hostEvents.record";
    const state = (field: string, v: string | null) => (v === null ? null : oneOf(w, field, HostStates, v));
    const info = this.#insert.run({
      atMs: epochMs(w, "atMs", e.atMs),
      host: text(w, "host", e.host),
      event: oneOf(w, "event", HostEventKinds, e.event),
      fromState: state("fromState", e.fromState ?? null),
      toState: state("toState", e.toState ?? null),
      detail: anyText(w, "detail", e.detail),
    });
    return toRow(this.#bySeq.get(info.lastInsertRowid) as HostEventSql);
  }

  /** Newest first. */
  list(opts: { host?: string; since?: number; limit?: number } = {}): HostEventRow[] {
    return this.#list.all({ host: opts.host ?? null, since: opts.since ?? null, limit: opts.limit ?? 100 }).map(toRow);
  }
}
