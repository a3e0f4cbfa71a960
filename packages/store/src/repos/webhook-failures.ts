import type Database from "better-sqlite3";
import { amount, anyText, epochMs, text } from "../check.js";
import type { WebhookFailureInput, WebhookFailureRow } from "../types.js";

interface WebhookFailureSql {
  seq: number;
  at_ms: number;
  receiver: string;
  event: string;
  event_id: string;
  attempts: number;
  error: string;
}

const toRow = (r: WebhookFailureSql): WebhookFailureRow => ({
  seq: r.seq,
  atMs: r.at_ms,
  receiver: r.receiver,
  event: r.event,
  eventId: r.event_id,
  attempts: r.attempts,
  error: r.error,
});

/** Webhook deliveries that gave up, for the history. */
export class WebhookFailures {
  readonly #insert: Database.Statement;
  readonly #list: Database.Statement<{ since: number | null; limit: number }, WebhookFailureSql>;
  readonly #bySeq: Database.Statement<[number | bigint], WebhookFailureSql>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO webhook_failures (at_ms, receiver, event, event_id, attempts, error)
      VALUES (@atMs, @receiver, @event, @eventId, @attempts, @error)`);
    this.#list = db.prepare(`
      SELECT * FROM webhook_failures WHERE (@since IS NULL OR at_ms >= @since) ORDER BY at_ms DESC, seq DESC LIMIT @limit`);
    this.#bySeq = db.prepare("SELECT * FROM webhook_failures WHERE seq = ?");
  }

  record(f: WebhookFailureInput): WebhookFailureRow {
    const w = "webhookFailures.record";
    const info = this.#insert.run({
      atMs: epochMs(w, "atMs", f.atMs),
      receiver: text(w, "receiver", f.receiver),
      event: text(w, "event", f.event),
      eventId: text(w, "eventId", f.eventId),
      attempts: Math.round(amount(w, "attempts", f.attempts)),
      error: anyText(w, "error", f.error),
    });
    return toRow(this.#bySeq.get(info.lastInsertRowid) as WebhookFailureSql);
  }

  /** Newest first. */
  list(opts: { since?: number; limit?: number } = {}): WebhookFailureRow[] {
    return this.#list.all({ since: opts.since ?? null, limit: opts.limit ?? 100 }).map(toRow);
  }
}
