import type Database from "better-sqlite3";
import { StoreError, StoreErrorCodes } from "../errors.js";
import { amount, epochMs, oneOf, text } from "../check.js";
import { LoadKinds, type LoadKind, type LoadPoint, type LoadSampleInput } from "../types.js";

/** Width of a downsampled bucket. */
export const LOAD_BUCKET_MS = 300_000;

export interface LoadCompaction {
  /** Full-resolution samples before this time are folded into buckets (rounded down to a bucket edge). */
  foldBeforeMs: number;
  /** Buckets before this time are deleted. */
  dropBeforeMs: number;
  /** At most this many rows (samples and buckets) are kept: beyond it the oldest go first. */
  maxRows: number;
}

interface PointSql {
  at_ms: number;
  bucket_ms: number;
  samples: number;
  cpu: number;
  cpu_max: number;
  mem: number;
  mem_max: number;
}

const toPoint = (r: PointSql): LoadPoint => ({
  atMs: r.at_ms,
  bucketMs: r.bucket_ms,
  samples: r.samples,
  cpuMhz: r.cpu,
  cpuMaxMhz: r.cpu_max,
  memoryMiB: r.mem,
  memoryMaxMiB: r.mem_max,
});

/**
 * Load time series: appended in batches by the scheduler, folded into 5-minute buckets (mean and
 * max) as they age, bounded by a retention and a row count.
 */
export class LoadHistory {
  readonly #insert: Database.Statement;
  readonly #append: (rows: readonly LoadSampleInput[]) => void;
  readonly #compact: (c: LoadCompaction) => number;
  readonly #series: Database.Statement<{ kind: string; id: string; since: number; until: number }, PointSql>;
  readonly #recent: Database.Statement<{ kind: string; since: number }, PointSql & { id: string }>;
  readonly #ids: Database.Statement<{ kind: string; since: number }, { id: string }>;
  readonly #rows: Database.Statement<[], { n: number }>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT OR REPLACE INTO load_samples (kind, id, at_ms, cpu_mhz, cpu_max_mhz, memory_mib)
      VALUES (?, ?, ?, ?, ?, ?)`);
    this.#append = db.transaction((rows: readonly LoadSampleInput[]) => {
      const w = "load.append";
      for (const r of rows) {
        this.#insert.run(
          oneOf(w, "kind", LoadKinds, r.kind),
          text(w, "id", r.id),
          epochMs(w, "atMs", r.atMs),
          amount(w, "cpuMhz", r.cpuMhz),
          amount(w, "cpuMaxMhz", r.cpuMaxMhz),
          amount(w, "memoryMiB", r.memoryMiB),
        );
      }
    });
    // A bucket that already holds folded samples (a later fold of the same 5 minutes) merges by weight.
    const fold = db.prepare(`
      INSERT INTO load_buckets (kind, id, bucket_ms, samples, cpu_mean_mhz, cpu_max_mhz, memory_mean_mib, memory_max_mib)
      SELECT kind, id, (at_ms / ${LOAD_BUCKET_MS}) * ${LOAD_BUCKET_MS}, count(*), avg(cpu_mhz), max(cpu_max_mhz), avg(memory_mib), max(memory_mib)
      FROM load_samples WHERE at_ms < @before GROUP BY kind, id, at_ms / ${LOAD_BUCKET_MS}
      ON CONFLICT (kind, id, bucket_ms) DO UPDATE SET
        cpu_mean_mhz = (cpu_mean_mhz * samples + excluded.cpu_mean_mhz * excluded.samples) / (samples + excluded.samples),
        memory_mean_mib = (memory_mean_mib * samples + excluded.memory_mean_mib * excluded.samples) / (samples + excluded.samples),
        cpu_max_mhz = max(cpu_max_mhz, excluded.cpu_max_mhz),
        memory_max_mib = max(memory_max_mib, excluded.memory_max_mib),
        samples = samples + excluded.samples`);
    const unfold = db.prepare("DELETE FROM load_samples WHERE at_ms < @before");
    const dropBuckets = db.prepare("DELETE FROM load_buckets WHERE bucket_ms < @before");
    const count = (table: string) => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`);
    const countSamples = count("load_samples");
    const countBuckets = count("load_buckets");
    // The time at which the oldest `n` rows end: what to remove to shed n rows.
    const nthSample = db.prepare<[number], { t: number }>("SELECT at_ms AS t FROM load_samples ORDER BY at_ms LIMIT 1 OFFSET ?");
    const nthBucket = db.prepare<[number], { t: number }>("SELECT bucket_ms AS t FROM load_buckets ORDER BY bucket_ms LIMIT 1 OFFSET ?");
    this.#rows = db.prepare("SELECT (SELECT count(*) FROM load_samples) + (SELECT count(*) FROM load_buckets) AS n");
    const edge = (t: number) => Math.floor(t / LOAD_BUCKET_MS) * LOAD_BUCKET_MS;
    this.#compact = db.transaction((c: LoadCompaction) => {
      let changes = 0;
      const foldBefore = (before: number) => {
        fold.run({ before });
        changes += unfold.run({ before }).changes;
      };
      foldBefore(edge(c.foldBeforeMs));
      changes += dropBuckets.run({ before: c.dropBeforeMs }).changes;
      // Over the bound: the oldest buckets go first, then the oldest samples are folded (fewer rows).
      let over = countSamples.get()!.n + countBuckets.get()!.n - c.maxRows;
      if (over > 0) {
        const t = nthBucket.get(Math.min(over, countBuckets.get()!.n) - 1)?.t;
        if (t !== undefined) changes += dropBuckets.run({ before: t + 1 }).changes;
        over = countSamples.get()!.n + countBuckets.get()!.n - c.maxRows;
      }
      if (over > 0) {
        const t = nthSample.get(Math.min(over, countSamples.get()!.n) - 1)?.t;
        if (t !== undefined) foldBefore(edge(t) + LOAD_BUCKET_MS);
        // Folding may still leave too many (one bucket per series): drop the oldest buckets again.
        over = countSamples.get()!.n + countBuckets.get()!.n - c.maxRows;
        const tb = over > 0 ? nthBucket.get(Math.min(over, countBuckets.get()!.n) - 1)?.t : undefined;
        if (tb !== undefined) changes += dropBuckets.run({ before: tb + 1 }).changes;
      }
      return changes;
    });
    const points = `
      SELECT bucket_ms AS at_ms, ${LOAD_BUCKET_MS} AS bucket_ms, samples, cpu_mean_mhz AS cpu, cpu_max_mhz AS cpu_max,
        memory_mean_mib AS mem, memory_max_mib AS mem_max, id
      FROM load_buckets WHERE kind = @kind AND bucket_ms >= @since %ID%
      UNION ALL
      SELECT at_ms, 0, 1, cpu_mhz, cpu_max_mhz, memory_mib, memory_mib, id
      FROM load_samples WHERE kind = @kind AND at_ms >= @since %ID%2`;
    this.#series = db.prepare(
      `${points.replace("%ID%2", "AND id = @id AND at_ms < @until").replace("%ID%", "AND id = @id AND bucket_ms < @until")} ORDER BY at_ms`,
    );
    this.#recent = db.prepare(`
      SELECT at_ms, 0 AS bucket_ms, 1 AS samples, cpu_mhz AS cpu, cpu_max_mhz AS cpu_max, memory_mib AS mem, memory_mib AS mem_max, id
      FROM load_samples WHERE kind = @kind AND at_ms >= @since ORDER BY id, at_ms`);
    this.#ids = db.prepare(`
      SELECT id FROM load_samples WHERE kind = @kind AND at_ms >= @since
      UNION SELECT id FROM load_buckets WHERE kind = @kind AND bucket_ms >= @since ORDER BY id`);
  }

  /** Appends full-resolution samples in one transaction; a sample of the same series and time replaces the older one. */
  append(rows: readonly LoadSampleInput[]): void {
    if (rows.length > 0) this.#append(rows);
  }

  /** Folds aged samples into buckets, drops expired buckets and keeps the total under maxRows. Returns rows removed. */
  compact(c: LoadCompaction): number {
    if (!Number.isSafeInteger(c.maxRows) || c.maxRows < 1)
      throw new StoreError(StoreErrorCodes.InvalidInput, `load.compact: maxRows must be a positive integer, got ${String(c.maxRows)}`);
    return this.#compact(c);
  }

  /** One series from `since` (up to `until`, exclusive), oldest first: buckets, then the full-resolution samples. */
  series(kind: LoadKind, id: string, since: number, until = Number.MAX_SAFE_INTEGER): LoadPoint[] {
    const w = "load.series";
    const args = { kind: oneOf(w, "kind", LoadKinds, kind), id: text(w, "id", id), since: epochMs(w, "since", since), until };
    return this.#series.all(args).map(toPoint);
  }

  /** Every series of a kind: the full-resolution samples since `since`, by id, oldest first (to refill memory at start). */
  recent(kind: LoadKind, since: number): Map<string, LoadPoint[]> {
    const out = new Map<string, LoadPoint[]>();
    for (const r of this.#recent.iterate({ kind: oneOf("load.recent", "kind", LoadKinds, kind), since })) {
      const l = out.get(r.id);
      if (l) l.push(toPoint(r));
      else out.set(r.id, [toPoint(r)]);
    }
    return out;
  }

  /** The ids with a sample or bucket of this kind since `since`. */
  ids(kind: LoadKind, since = 0): string[] {
    return this.#ids.all({ kind: oneOf("load.ids", "kind", LoadKinds, kind), since }).map((r) => r.id);
  }

  /** Samples plus buckets stored. */
  get rows(): number {
    return this.#rows.get()!.n;
  }
}
