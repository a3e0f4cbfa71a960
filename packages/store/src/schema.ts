import type Database from "better-sqlite3";
import { StoreError, StoreErrorCodes } from "./errors.js";

// Ordered, append-only: migration i takes a file from user_version i to i + 1. Never edit a shipped
// entry; add a new one. Status columns carry no CHECK constraint on purpose: adding a status then
// needs no table rebuild, and values are checked where rows enter the store.
export const migrations: readonly string[] = [
  // 1: cluster picture, plans and migrations.
  `
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT,
    state_since_ms INTEGER NOT NULL,
    last_report_ms INTEGER,
    migration_uri TEXT,
    wake TEXT NOT NULL DEFAULT 'null',
    capacity TEXT NOT NULL DEFAULT 'null',
    updated_ms INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE vms (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    state TEXT NOT NULL,
    memory_mib REAL NOT NULL,
    vcpus INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    last_seen_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX vms_host ON vms(host);

  CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    status_ms INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    explanation TEXT NOT NULL DEFAULT 'null'
  ) STRICT;
  CREATE INDEX plans_created ON plans(created_ms);
  CREATE INDEX plans_status ON plans(status, created_ms);

  CREATE TABLE migrations (
    id TEXT PRIMARY KEY,
    command_id TEXT NOT NULL UNIQUE,
    plan_id TEXT REFERENCES plans(id) ON DELETE SET NULL,
    vm_uuid TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    predicted_duration_ms REAL,
    predicted_downtime_ms REAL,
    strategy TEXT,
    measured_duration_ms REAL,
    measured_downtime_ms REAL,
    bytes_moved REAL,
    completed_by TEXT,
    escalations TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    ended_ms INTEGER,
    updated_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX migrations_created ON migrations(created_ms);
  CREATE INDEX migrations_status ON migrations(status);
  CREATE INDEX migrations_vm ON migrations(vm_uuid, created_ms);
  CREATE INDEX migrations_source ON migrations(source, created_ms);
  CREATE INDEX migrations_destination ON migrations(destination, created_ms);
  CREATE INDEX migrations_plan ON migrations(plan_id);

  CREATE TABLE plan_steps (
    plan_id TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    action TEXT NOT NULL,
    vm_uuid TEXT,
    vm_name TEXT,
    source TEXT,
    destination TEXT,
    host TEXT,
    reason TEXT NOT NULL,
    predicted_duration_ms REAL,
    predicted_downtime_ms REAL,
    detail TEXT NOT NULL DEFAULT 'null',
    status TEXT NOT NULL,
    migration_id TEXT REFERENCES migrations(id) ON DELETE SET NULL,
    PRIMARY KEY (plan_id, idx)
  ) STRICT;
  CREATE INDEX plan_steps_migration ON plan_steps(migration_id);
  `,
  // 2: operator actions: maintenance, power, configuration changes.
  `
  CREATE TABLE maintenance (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    power_off INTEGER NOT NULL,
    status TEXT NOT NULL,
    blockers TEXT NOT NULL DEFAULT 'null',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    ended_ms INTEGER
  ) STRICT;
  CREATE INDEX maintenance_created ON maintenance(created_ms);
  -- The database itself guarantees one open maintenance per host.
  CREATE UNIQUE INDEX maintenance_one_active ON maintenance(host)
    WHERE status IN ('draining', 'in-maintenance', 'blocked');

  CREATE TABLE power_actions (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX power_created ON power_actions(created_ms);
  CREATE INDEX power_host ON power_actions(host, created_ms);

  CREATE TABLE config_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    who TEXT NOT NULL,
    key TEXT NOT NULL,
    old_value TEXT NOT NULL DEFAULT 'null',
    new_value TEXT NOT NULL DEFAULT 'null'
  ) STRICT;
  CREATE INDEX config_at ON config_changes(at_ms);
  `,
  // 3: how many moves shared a migration's hosts when it was sent, as its own column. Releases up to
  // version 2 wrote the count into strategy ("live; 2 concurrent"); it is moved out here.
  `
  ALTER TABLE migrations ADD COLUMN concurrent INTEGER NOT NULL DEFAULT 1;
  UPDATE migrations SET
    concurrent = CAST(substr(strategy, instr(strategy, '; ') + 2, length(strategy) - instr(strategy, '; ') - 12) AS INTEGER),
    strategy = nullif(substr(strategy, 1, instr(strategy, '; ') - 1), '')
  WHERE strategy GLOB '*; [1-9]* concurrent'
    AND substr(strategy, instr(strategy, '; ') + 2, length(strategy) - instr(strategy, '; ') - 12) NOT GLOB '*[^0-9]*';
  `,
  // 4: the HTTP API's bearer tokens, by SHA-256 only. A revoked token keeps its row (and its name), so
  // the history's "api:<name>" entries always point at one identity.
  `
  CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms INTEGER
  ) STRICT;
  `,
  // 5: every command an agent reports it ran (its `command` events), whoever sent it. One row per
  // (host, command id, outcome): a replayed event adds nothing. issued_here is 1 when the command's
  // id is one this scheduler sent to that host; issued_by is what the sender claimed.
  `
  CREATE TABLE agent_commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    command_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_here INTEGER NOT NULL,
    vm TEXT,
    destination TEXT NOT NULL DEFAULT 'null',
    outcome TEXT NOT NULL,
    duplicate INTEGER NOT NULL,
    error TEXT,
    agent_time_ms INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    UNIQUE (host, command_id, outcome)
  ) STRICT;
  CREATE INDEX agent_commands_at ON agent_commands(at_ms);
  `,
  // 6: what happened to each host: its state changes (written with the state itself, hosts.setState)
  // and the lifecycle events its agent announced.
  `
  CREATE TABLE host_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    host TEXT NOT NULL,
    event TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    detail TEXT NOT NULL DEFAULT ''
  ) STRICT;
  CREATE INDEX host_events_at ON host_events(at_ms);
  CREATE INDEX host_events_host ON host_events(host, at_ms);
  `,
  // 7: who approved or rejected a plan (an operator's token, "api:<name>"); null for a plan no one decided.
  `
  ALTER TABLE plans ADD COLUMN decided_by TEXT;
  `,
  // 8: webhook deliveries that gave up (every attempt failed, or the receiver's queue was full).
  `
  CREATE TABLE webhook_failures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    receiver TEXT NOT NULL,
    event TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL
  ) STRICT;
  CREATE INDEX webhook_failures_at ON webhook_failures(at_ms);
  `,
  // 9: the load of each host, VM and the whole cluster as a time series (scheduler/src/load-history.ts):
  // recent samples at full resolution, older ones folded into 5-minute buckets (mean and max).
  `
  CREATE TABLE load_samples (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    cpu_mhz REAL NOT NULL,
    cpu_max_mhz REAL NOT NULL,
    memory_mib REAL NOT NULL,
    PRIMARY KEY (kind, id, at_ms)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX load_samples_at ON load_samples(at_ms);

  CREATE TABLE load_buckets (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    cpu_mean_mhz REAL NOT NULL,
    cpu_max_mhz REAL NOT NULL,
    memory_mean_mib REAL NOT NULL,
    memory_max_mib REAL NOT NULL,
    PRIMARY KEY (kind, id, bucket_ms)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX load_buckets_at ON load_buckets(bucket_ms);
  `,
  // 10: the destination's cluster of a move across clusters (\`drover migrate --cluster\`); null: this cluster.
  `
  ALTER TABLE migrations ADD COLUMN destination_cluster TEXT;
  `,
  // 11: when an API token stops being accepted; null: never (every token made before).
  `
  ALTER TABLE api_tokens ADD COLUMN expires_ms INTEGER;
  `,
];

export const LATEST_SCHEMA_VERSION = migrations.length;

export function schemaVersionOf(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Brings the file to `target` (default: latest), each step in its own IMMEDIATE transaction so two
 * processes opening the same file at once cannot both apply a step. Refuses a file newer than the code.
 */
export function migrate(db: Database.Database, file: string, target = LATEST_SCHEMA_VERSION): number {
  const found = assertNotNewer(db, file);
  for (let v = found; v < target; v++) {
    const step = migrations[v] as string;
    db.transaction(() => {
      // Re-read inside the lock: another process may have migrated meanwhile.
      if (schemaVersionOf(db) !== v) return;
      db.exec(step);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return schemaVersionOf(db);
}

/** Returns the file's schema version; throws schema-too-new if this code cannot read it. */
export function assertNotNewer(db: Database.Database, file: string): number {
  const found = schemaVersionOf(db);
  if (found > LATEST_SCHEMA_VERSION) {
    throw new StoreError(
      StoreErrorCodes.SchemaTooNew,
      `${file} has schema version ${found}, newer than this Drover's ${LATEST_SCHEMA_VERSION}: ` +
        `it was written by a newer release; run that release, or restore a backup made before the upgrade`,
    );
  }
  return found;
}
