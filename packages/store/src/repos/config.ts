import type Database from "better-sqlite3";
import { epochMs, fromJson, text, toJson } from "../check.js";
import type { ConfigChangeInput, ConfigChangeRow } from "../types.js";

interface ConfigSql {
  seq: number;
  at_ms: number;
  who: string;
  key: string;
  old_value: string;
  new_value: string;
}

function toRow(r: ConfigSql): ConfigChangeRow {
  return {
    seq: r.seq,
    atMs: r.at_ms,
    who: r.who,
    key: r.key,
    oldValue: fromJson("config_changes", String(r.seq), "old_value", r.old_value),
    newValue: fromJson("config_changes", String(r.seq), "new_value", r.new_value),
  };
}

export class ConfigChanges {
  readonly #insert: Database.Statement;
  readonly #list: Database.Statement<{ key: string | null; since: number | null; limit: number }, ConfigSql>;
  readonly #bySeq: Database.Statement<[number | bigint], ConfigSql>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO config_changes (at_ms, who, key, old_value, new_value) VALUES (@atMs, @who, @key, @oldValue, @newValue)`);
    this.#list = db.prepare(`
      SELECT * FROM config_changes WHERE (@key IS NULL OR key = @key) AND (@since IS NULL OR at_ms >= @since)
      ORDER BY at_ms DESC, seq DESC LIMIT @limit`);
    this.#bySeq = db.prepare("SELECT * FROM config_changes WHERE seq = ?");
  }

  /** Values are stored as JSON; pass secrets redacted. */
  recordChange(c: ConfigChangeInput): ConfigChangeRow {
    const w = "config.recordChange";
    const info = this.#insert.run({
      atMs: epochMs(w, "atMs", c.atMs),
      who: text(w, "who", c.who),
      key: text(w, "key", c.key),
      oldValue: toJson(w, "oldValue", c.oldValue),
      newValue: toJson(w, "newValue", c.newValue),
    });
    return toRow(this.#bySeq.get(info.lastInsertRowid) as ConfigSql);
  }

  /** Newest first. */
  list(opts: { key?: string; since?: number; limit?: number } = {}): ConfigChangeRow[] {
    return this.#list.all({ key: opts.key ?? null, since: opts.since ?? null, limit: opts.limit ?? 100 }).map(toRow);
  }
}
