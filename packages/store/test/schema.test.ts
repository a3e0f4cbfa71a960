import { readFileSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { LATEST_SCHEMA_VERSION, Store, StoreError } from "../src/index.js";
import { migrate, migrations } from "../src/schema.js";
import { migration, plan, tempDir, uuid } from "./helpers.js";

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all()
      .map((r) => r.name);
  } finally {
    db.close();
  }
}

describe("schema migrations", () => {
  it("has one migration per version and the latest is what a fresh store reports", () => {
    expect(LATEST_SCHEMA_VERSION).toBe(migrations.length);
    expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
  });

  it("creates the full schema in an empty file, in WAL mode", () => {
    using dir = tempDir();
    const file = dir.file("nested/state/drover.db"); // the state dir does not exist yet
    writeFileSync(dir.file("empty.db"), "");
    for (const f of [file, dir.file("empty.db")]) {
      const store = Store.open({ path: f });
      expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
      store.close();
      expect(tables(f)).toEqual([
        "agent_commands",
        "api_tokens",
        "config_changes",
        "host_events",
        "hosts",
        "load_buckets",
        "load_samples",
        "maintenance",
        "migrations",
        "plan_steps",
        "plans",
        "power_actions",
        "vms",
        "webhook_failures",
      ]);
      const db = new Database(f);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("user_version", { simple: true })).toBe(LATEST_SCHEMA_VERSION);
      db.close();
    }
  });

  it("upgrades a version-1 file to the latest and keeps its rows", () => {
    using dir = tempDir();
    const file = dir.file();
    const db = new Database(file);
    expect(migrate(db, file, 1)).toBe(1);
    expect(tables(file)).not.toContain("maintenance");
    // Rows written by a version-1 release, in version-1 SQL.
    db.prepare(
      `INSERT INTO hosts (id, cluster, state, state_reason, state_since_ms, last_report_ms, migration_uri, wake, capacity, updated_ms)
       VALUES ('kvm01', 'lab', 'draining', 'operator', 10, 20, 'qemu+tcp://127.0.1.1/system', '[]', '{"cpus":4}', 20)`,
    ).run();
    db.prepare(
      `INSERT INTO migrations (id, command_id, vm_uuid, vm_name, source, destination, requested_by, reason, status,
         escalations, created_ms, updated_ms)
       VALUES ('m1', 'c1', ?, 'web1', 'kvm01', 'kvm02', 'op', 'drain', 'running', '[]', 30, 30)`,
    ).run(uuid(1));
    db.close();

    const store = Store.open({ path: file });
    expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    // The file as it was before the upgrade is kept next to it.
    expect(tables(`${file}.schema-v1.bak`)).toEqual(["hosts", "migrations", "plan_steps", "plans", "vms"]);
    expect(store.hosts.get("kvm01")).toMatchObject({ state: "draining", stateReason: "operator", capacity: { cpus: 4 }, wake: [] });
    expect(store.migrations.inFlight().map((m) => m.id)).toEqual(["m1"]);
    // The tables version 2 added work.
    store.maintenance.request({ id: "mt1", host: "kvm01", requestedBy: "op", powerOff: false, atMs: 40 });
    expect(store.maintenance.active("kvm01")?.id).toBe("mt1");
    store.close();
  });

  it("upgrading a version-2 file moves the concurrency out of the strategy text into its own column", () => {
    using dir = tempDir();
    const file = dir.file();
    const db = new Database(file);
    expect(migrate(db, file, 2)).toBe(2);
    // Strategies as version-2 releases wrote them: the count of moves sharing the hosts as a suffix.
    const insert = db.prepare(
      `INSERT INTO migrations (id, command_id, vm_uuid, vm_name, source, destination, requested_by, reason, status,
         strategy, escalations, created_ms, updated_ms)
       VALUES (?, ?, ?, 'web1', 'kvm01', 'kvm02', 'op', 'drain', 'succeeded', ?, '[]', 30, 30)`,
    );
    const old: [string, string | null][] = [
      ["m1", "live; 2 concurrent"],
      ["m2", "live-auto-converge; 12 concurrent"],
      ["m3", "live"],
      ["m4", null],
      ["m5", "; 3 concurrent"],
      ["m6", "live; x concurrent"],
    ];
    old.forEach(([id, strategy], i) => insert.run(id, `c-${id}`, uuid(i + 1), strategy));
    db.close();

    using store = Store.open({ path: file });
    expect(store.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(old.map(([id]) => store.migrations.get(id)).map((m) => [m?.strategy, m?.concurrent])).toEqual([
      ["live", 2],
      ["live-auto-converge", 12],
      ["live", 1],
      [null, 1],
      [null, 3],
      // Not the suffix those releases wrote: left as it was.
      ["live; x concurrent", 1],
    ]);
  });

  it("upgrading a version-10 file keeps its API tokens, none of which expires", () => {
    using dir = tempDir();
    const file = dir.file();
    const db = new Database(file);
    expect(migrate(db, file, 10)).toBe(10);
    db.prepare(`INSERT INTO api_tokens (name, role, hash, created_ms) VALUES ('root', 'admin', ?, 5)`).run("a".repeat(64));
    db.close();

    using store = Store.open({ path: file });
    expect(store.tokens.get("root")).toMatchObject({ role: "admin", createdMs: 5, revokedMs: null, expiresMs: null });
  });

  it("migrating twice is a no-op", () => {
    using dir = tempDir();
    const file = dir.file();
    Store.open({ path: file }).close();
    const db = new Database(file);
    expect(migrate(db, file)).toBe(LATEST_SCHEMA_VERSION);
    db.close();
  });

  it("refuses a file written by a newer schema, and leaves it untouched", () => {
    using dir = tempDir();
    const file = dir.file();
    Store.open({ path: file }).close();
    const db = new Database(file);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(file);

    let err: unknown;
    try {
      Store.open({ path: file });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe("schema-too-new");
    expect((err as StoreError).message).toContain(file);
    expect((err as StoreError).message).toContain(
      `schema version ${LATEST_SCHEMA_VERSION + 1}, newer than this Drover's ${LATEST_SCHEMA_VERSION}`,
    );
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("reports a file that is not a database as open-failed, naming the file", () => {
    using dir = tempDir();
    const file = dir.file();
    writeFileSync(file, "this is not sqlite, just some text that is long enough to have a header ".repeat(20));
    expect(() => Store.open({ path: file })).toThrowError(
      expect.objectContaining({ code: "open-failed", message: expect.stringContaining(file) }),
    );
  });

  it("rejects bad options with the option named", () => {
    expect(() => Store.open({ path: "" })).toThrowError(/path must be/);
    expect(() => Store.open({ path: ":memory:", retentionDays: 0 })).toThrowError(/retentionDays must be a positive number/);
    expect(() => Store.open({ path: ":memory:", retentionDays: Number.NaN })).toThrowError(/retentionDays/);
  });

  it("backupTo writes a copy that opens as a store with the same rows", () => {
    using dir = tempDir();
    {
      using store = Store.open({ path: dir.file() });
      store.plans.insert(plan("p1"));
      store.backupTo(dir.file("backups/one.db"));
      expect(() => store.backupTo(dir.file("backups/one.db"))).toThrowError(expect.objectContaining({ code: "conflict" }));
    }
    using copy = Store.open({ path: dir.file("backups/one.db") });
    expect(copy.plans.get("p1")?.steps).toHaveLength(2);
  });

  it("works in memory", () => {
    using store = Store.open({ path: ":memory:" });
    store.plans.insert(plan("p1"));
    store.migrations.insert(migration("m1", { planId: "p1" }));
    expect(store.migrations.get("m1")?.planId).toBe("p1");
  });
});
