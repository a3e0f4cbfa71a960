import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { StoreError, StoreErrorCodes } from "./errors.js";
import { history, type HistoryQuery } from "./history.js";
import { AgentCommands } from "./repos/agent-commands.js";
import { ConfigChanges } from "./repos/config.js";
import { HostEvents } from "./repos/host-events.js";
import { WebhookFailures } from "./repos/webhook-failures.js";
import { Hosts } from "./repos/hosts.js";
import { LoadHistory } from "./repos/load.js";
import { Maintenance } from "./repos/maintenance.js";
import { Migrations } from "./repos/migrations.js";
import { Plans } from "./repos/plans.js";
import { Power } from "./repos/power.js";
import { Tokens } from "./repos/tokens.js";
import { Vms } from "./repos/vms.js";
import { WriteFailures, type WriteFailureListener } from "./write-failures.js";
import { LATEST_SCHEMA_VERSION, assertNotNewer, migrate } from "./schema.js";
import { ActiveMaintenanceStatuses, InFlightMigrationStatuses, OpenPlanStatuses, OpenPowerStatuses, type HistoryEntry } from "./types.js";

export interface StoreOptions {
  /** SQLite file (its directory is created), or ":memory:" for a throwaway store. */
  path: string;
  /** Finished records older than this are deleted by prune(). Default 90; Infinity keeps everything. */
  retentionDays?: number;
  /** Clock for prune(); default Date.now. */
  now?: () => number;
  /** How long a write waits for another process's lock before failing (SQLITE_BUSY). Default 5000. */
  busyTimeoutMs?: number;
  /** Told of every write the disk refused (full, read-only, I/O error), before the caller gets it as `write-failed`. */
  onWriteFailure?: WriteFailureListener;
  /** A cap on the file's size in SQLite pages (max_page_count): a write past it fails as `write-failed`, as on a full disk. */
  maxPages?: number;
}

export const DEFAULT_RETENTION_DAYS = 90;
const DAY_MS = 86_400_000;
const list = (xs: readonly string[]): string => xs.map((s) => `'${s}'`).join(", ");
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export class Store implements Disposable {
  readonly path: string;
  readonly schemaVersion: number;
  readonly retentionDays: number;
  readonly hosts: Hosts;
  readonly vms: Vms;
  readonly plans: Plans;
  readonly migrations: Migrations;
  readonly maintenance: Maintenance;
  readonly power: Power;
  readonly config: ConfigChanges;
  readonly tokens: Tokens;
  readonly agentCommands: AgentCommands;
  readonly hostEvents: HostEvents;
  readonly webhookFailures: WebhookFailures;
  /** Load time series (their own retention: `load.compact`, not `prune`). */
  readonly load: LoadHistory;
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #prune: (cutoff: number) => number;
  readonly #writes: WriteFailures;
  readonly #totalChanges: Database.Statement;

  private constructor(
    db: Database.Database,
    path: string,
    schemaVersion: number,
    retentionDays: number,
    now: () => number,
    onWriteFailure: WriteFailureListener | undefined,
  ) {
    this.#db = db;
    this.path = path;
    this.schemaVersion = schemaVersion;
    this.retentionDays = retentionDays;
    this.#now = now;
    this.#totalChanges = db.prepare("SELECT total_changes()").pluck();
    const w = (this.#writes = new WriteFailures(path, onWriteFailure));
    this.hostEvents = w.guard(new HostEvents(db));
    this.hosts = w.guard(new Hosts(db, this.hostEvents));
    this.vms = w.guard(new Vms(db));
    this.plans = w.guard(new Plans(db));
    this.migrations = w.guard(new Migrations(db));
    this.maintenance = w.guard(new Maintenance(db));
    this.power = w.guard(new Power(db));
    this.config = w.guard(new ConfigChanges(db));
    this.tokens = w.guard(new Tokens(db));
    this.agentCommands = w.guard(new AgentCommands(db));
    this.webhookFailures = w.guard(new WebhookFailures(db));
    this.load = w.guard(new LoadHistory(db));

    // Order matters: migrations go first so that a plan still referenced by a kept migration is kept.
    const statements = [
      db.prepare(`DELETE FROM migrations WHERE status NOT IN (${list(InFlightMigrationStatuses)})
        AND coalesce(ended_ms, updated_ms) < @cutoff`),
      db.prepare(`DELETE FROM plans WHERE status NOT IN (${list(OpenPlanStatuses)}) AND status_ms < @cutoff
        AND NOT EXISTS (SELECT 1 FROM migrations m WHERE m.plan_id = plans.id)`),
      db.prepare(`DELETE FROM maintenance WHERE status NOT IN (${list(ActiveMaintenanceStatuses)}) AND updated_ms < @cutoff`),
      db.prepare(`DELETE FROM power_actions WHERE status NOT IN (${list(OpenPowerStatuses)}) AND updated_ms < @cutoff`),
      db.prepare("DELETE FROM config_changes WHERE at_ms < @cutoff"),
      db.prepare("DELETE FROM agent_commands WHERE at_ms < @cutoff"),
      db.prepare("DELETE FROM host_events WHERE at_ms < @cutoff"),
      db.prepare("DELETE FROM webhook_failures WHERE at_ms < @cutoff"),
      db.prepare("DELETE FROM vms WHERE last_seen_ms < @cutoff"),
    ];
    this.#prune = db.transaction((cutoff: number) => statements.reduce((n, s) => n + s.run({ cutoff }).changes, 0));
  }

  static open(opts: StoreOptions): Store {
    if (typeof opts?.path !== "string" || opts.path.length === 0) {
      throw new StoreError(
        StoreErrorCodes.InvalidInput,
        `Store.open: path must be a file path or ":memory:", got ${JSON.stringify(opts?.path)}`,
      );
    }
    const retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS;
    if (typeof retentionDays !== "number" || Number.isNaN(retentionDays) || retentionDays <= 0) {
      throw new StoreError(
        StoreErrorCodes.InvalidInput,
        `Store.open: retentionDays must be a positive number of days (or Infinity), got ${String(retentionDays)}`,
      );
    }
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new StoreError(
        StoreErrorCodes.InvalidInput,
        `Store.open: busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`,
      );
    }
    if (opts.maxPages !== undefined && (!Number.isSafeInteger(opts.maxPages) || opts.maxPages < 1)) {
      throw new StoreError(StoreErrorCodes.InvalidInput, `Store.open: maxPages must be a positive integer, got ${String(opts.maxPages)}`);
    }
    const memory = opts.path === ":memory:";
    const path = memory ? opts.path : resolve(opts.path);
    let db: Database.Database | undefined;
    try {
      if (!memory) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      // Before anything that writes (journal_mode does): a newer file must be left exactly as it is.
      const found = assertNotNewer(db, path);
      // WAL: readers (the API, a second process) never block the writer, and the writer never blocks them.
      if (!memory) db.pragma("journal_mode = WAL");
      // NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the last commits.
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      // An upgrade rewrites the schema of a file that holds history: keep a copy of it as it was.
      if (!memory && found > 0 && found < LATEST_SCHEMA_VERSION) {
        const copy = `${path}.schema-v${found}.bak`;
        if (!existsSync(copy)) db.exec(`VACUUM INTO ${sqlString(copy)}`);
      }
      const version = migrate(db, path);
      if (opts.maxPages !== undefined) db.pragma(`max_page_count = ${opts.maxPages}`);
      return new Store(db, path, version, retentionDays, opts.now ?? Date.now, opts.onWriteFailure);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(StoreErrorCodes.OpenFailed, `cannot open store ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The schema version this code writes. */
  static readonly latestSchemaVersion = LATEST_SCHEMA_VERSION;

  get open(): boolean {
    return this.#db.open;
  }

  /**
   * Rows inserted, updated or deleted through this store since it was opened (SQLite's total_changes()).
   * Unchanged between two reads means nothing was written in between: how a test checks, cheaply,
   * that a refused request wrote nothing.
   */
  get rowsChanged(): number {
    return Number(this.#totalChanges.get());
  }

  /** Runs fn in one transaction (nested calls become savepoints); it commits if fn returns, rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    return this.#writes.run(() => this.#db.transaction(fn)());
  }

  history(q: HistoryQuery = {}): HistoryEntry[] {
    return history(this, q);
  }

  /**
   * Deletes finished records older than the retention; never an in-flight migration, an open plan,
   * active maintenance or an unconfirmed power action. Returns the number of rows deleted.
   */
  prune(): number {
    if (!Number.isFinite(this.retentionDays)) return 0;
    return this.#writes.run(() => this.#prune(this.#now() - this.retentionDays * DAY_MS));
  }

  /**
   * Writes a consistent, compacted copy of the database to `file` (which must not exist), while
   * other connections keep reading and writing.
   */
  backupTo(file: string): void {
    const target = resolve(file);
    if (existsSync(target)) throw new StoreError(StoreErrorCodes.Conflict, `backupTo: ${target} already exists`);
    mkdirSync(dirname(target), { recursive: true });
    this.#db.exec(`VACUUM INTO ${sqlString(target)}`);
  }

  /** Idempotent. Checkpoints the WAL so the file alone is a complete copy. */
  close(): void {
    if (!this.#db.open) return;
    if (this.path !== ":memory:") {
      try {
        this.#db.pragma("wal_checkpoint(TRUNCATE)");
      } catch {
        // Another connection holds the WAL; it is checkpointed when that one closes.
      }
    }
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
