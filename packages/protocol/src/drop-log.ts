// Logging of dropped messages that stays bounded under a flood: one line per key (a subject) per
// interval, carrying how many were dropped and why, instead of one line per message. The bus uses it
// for invalid messages, the scheduler for reports it refuses and for API requests it refuses
// (keyed by client address).
import type { Logger } from "./common.js";

export interface DropLogOptions {
  /** Keys followed at once; beyond it drops of new keys share one entry (a flood of subjects). Default 1000. */
  maxKeys?: number;
  /** The key's field in a line. Default "subject". */
  keyField?: string;
  /** What happened to them, the counts' field too, and how the key is named: default "dropped" ... "on" <subject>. */
  verb?: string;
  preposition?: string;
}

interface Entry {
  /** When the last line for this key was written. */
  loggedMs: number;
  /** Drops since that line, by reason. */
  pending: Map<string, number>;
  /** What the latest drop said (host claimed, time, ...), repeated in the next line. */
  detail: object;
}

export class DropLog {
  private readonly entries = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly keyField: string;
  private readonly verb: string;
  private readonly preposition: string;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly what: string,
    opts: DropLogOptions = {},
  ) {
    this.maxKeys = opts.maxKeys ?? 1000;
    this.keyField = opts.keyField ?? "subject";
    this.verb = opts.verb ?? "dropped";
    this.preposition = opts.preposition ?? "on";
  }

  /** Counts one drop; writes a line at once for a key quiet for an interval, else at the next flush. */
  note(key: string, reason: string, nowMs: number, detail: object): void {
    if (!this.entries.has(key) && this.entries.size >= this.maxKeys) key = `(other ${this.keyField}s)`;
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { loggedMs: -Infinity, pending: new Map(), detail }));
    e.pending.set(reason, (e.pending.get(reason) ?? 0) + 1);
    e.detail = detail;
    if (nowMs - e.loggedMs >= this.intervalMs) this.write(key, e, nowMs);
  }

  /** Writes the counts of keys whose interval has passed; forgets keys quiet for a whole interval. */
  flush(nowMs: number): void {
    for (const [key, e] of this.entries) {
      if (nowMs - e.loggedMs < this.intervalMs) continue;
      if (e.pending.size > 0) this.write(key, e, nowMs);
      else this.entries.delete(key);
    }
  }

  private write(key: string, e: Entry, nowMs: number): void {
    const byReason = Object.fromEntries(e.pending);
    const count = [...e.pending.values()].reduce((a, b) => a + b, 0);
    this.log.warn(
      { [this.keyField]: key, count, [this.verb]: byReason, ...e.detail },
      `${this.verb} ${count} ${this.what} ${this.preposition} ${key}: ${Object.keys(byReason).join(", ")}`,
    );
    e.pending.clear();
    e.loggedMs = nowMs;
  }
}
