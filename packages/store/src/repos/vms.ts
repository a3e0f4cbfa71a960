import type Database from "better-sqlite3";
import { amount, count, epochMs, fromJson, stringArray, text, toJson } from "../check.js";
import type { VmSeenRow } from "../types.js";

interface VmSql {
  uuid: string;
  name: string;
  host: string;
  state: string;
  memory_mib: number;
  vcpus: number;
  tags: string;
  last_seen_ms: number;
}

function toRow(r: VmSql): VmSeenRow {
  return {
    uuid: r.uuid,
    name: r.name,
    host: r.host,
    state: r.state,
    memoryMiB: r.memory_mib,
    vcpus: r.vcpus,
    tags: fromJson("vms", r.uuid, "tags", r.tags) as string[],
    lastSeenMs: r.last_seen_ms,
  };
}

export class Vms {
  readonly #upsert: Database.Statement;
  readonly #get: Database.Statement<[string], VmSql>;
  readonly #list: Database.Statement<[], VmSql>;
  readonly #onHost: Database.Statement<[string], VmSql>;
  readonly #remove: Database.Statement<[string]>;
  readonly #upsertMany: (rows: readonly VmSeenRow[]) => void;

  constructor(db: Database.Database) {
    // A late report (older lastSeenMs) must not move a VM back to where it was before a migration.
    this.#upsert = db.prepare(`
      INSERT INTO vms (uuid, name, host, state, memory_mib, vcpus, tags, last_seen_ms)
      VALUES (@uuid, @name, @host, @state, @memoryMiB, @vcpus, @tags, @lastSeenMs)
      ON CONFLICT (uuid) DO UPDATE SET
        name = excluded.name, host = excluded.host, state = excluded.state, memory_mib = excluded.memory_mib,
        vcpus = excluded.vcpus, tags = excluded.tags, last_seen_ms = excluded.last_seen_ms
      WHERE excluded.last_seen_ms >= vms.last_seen_ms`);
    this.#get = db.prepare("SELECT * FROM vms WHERE uuid = ?");
    this.#remove = db.prepare("DELETE FROM vms WHERE uuid = ?");
    this.#list = db.prepare("SELECT * FROM vms ORDER BY host, name, uuid");
    this.#onHost = db.prepare("SELECT * FROM vms WHERE host = ? ORDER BY name, uuid");
    this.#upsertMany = db.transaction((rows: readonly VmSeenRow[]) => {
      const w = "vms.upsertSeen";
      for (const [i, v] of rows.entries()) {
        this.#upsert.run({
          uuid: text(w, `[${i}].uuid`, v.uuid),
          name: text(w, `[${i}].name`, v.name),
          host: text(w, `[${i}].host`, v.host),
          state: text(w, `[${i}].state`, v.state),
          memoryMiB: amount(w, `[${i}].memoryMiB`, v.memoryMiB),
          vcpus: count(w, `[${i}].vcpus`, v.vcpus),
          tags: toJson(w, `[${i}].tags`, stringArray(w, `[${i}].tags`, v.tags)),
          lastSeenMs: epochMs(w, `[${i}].lastSeenMs`, v.lastSeenMs),
        });
      }
    });
  }

  /** All rows in one transaction: a bad row rolls the whole batch back. */
  upsertSeen(rows: readonly VmSeenRow[]): void {
    this.#upsertMany(rows);
  }

  /** Forgets an undefined (deleted) VM at once instead of waiting for prune(). */
  remove(uuid: string): boolean {
    return this.#remove.run(uuid).changes > 0;
  }

  get(uuid: string): VmSeenRow | undefined {
    const r = this.#get.get(uuid);
    return r && toRow(r);
  }

  list(opts: { host?: string } = {}): VmSeenRow[] {
    return (opts.host === undefined ? this.#list.all() : this.#onHost.all(opts.host)).map(toRow);
  }
}
