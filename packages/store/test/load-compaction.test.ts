// Load history compaction against a model, on a real SQLite file: any sequence of appends and
// compactions leaves each series as the model folds it (samples into 5-minute buckets by weight,
// buckets past the retention dropped; over the row bound the oldest buckets go, then the oldest
// samples fold).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LOAD_BUCKET_MS, Store, type LoadPoint, type LoadSampleInput } from "../src/index.js";
import { tempDir } from "./helpers.js";

const RUNS = { numRuns: Number(process.env.STORE_FC_RUNS ?? 100) };
const IDS = ["a", "b", "c"] as const;
const SPAN_BUCKETS = 12;
const B = LOAD_BUCKET_MS;

const sampleArb = fc.record({
  kind: fc.constant("vm" as const),
  id: fc.constantFrom(...IDS),
  // Every 10 s over the span, so samples share buckets and times repeat.
  atMs: fc.integer({ min: 0, max: (SPAN_BUCKETS * B) / 10_000 - 1 }).map((i) => i * 10_000),
  cpuMhz: fc.integer({ min: 0, max: 20_000 }),
  cpuMaxMhz: fc.integer({ min: 0, max: 20_000 }),
  memoryMiB: fc.integer({ min: 0, max: 65_536 }),
});
const edgeArb = fc.integer({ min: 0, max: SPAN_BUCKETS * 6 }).map((i) => i * (B / 6));
type Op = { kind: "append"; rows: LoadSampleInput[] } | { kind: "compact"; foldBeforeMs: number; dropBeforeMs: number; maxRows: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), rows: fc.array(sampleArb, { minLength: 1, maxLength: 30 }) }),
  // Retention drops seldom, so folded buckets live on to take later folds.
  fc.record({
    kind: fc.constant("compact" as const),
    foldBeforeMs: edgeArb,
    dropBeforeMs: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: edgeArb, weight: 1 }),
    // Mostly unbounded; a tight bound now and then, as when the store is full.
    maxRows: fc.oneof({ arbitrary: fc.constant(1_000_000), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 60 }), weight: 1 }),
  }),
);

interface Bucket {
  n: number;
  cpu: number;
  cpuMax: number;
  mem: number;
  memMax: number;
}

/** What the store should hold: samples by (id, time), buckets by (id, start). */
class Model {
  readonly samples = new Map<string, LoadSampleInput>();
  readonly buckets = new Map<string, Bucket>();

  append(rows: readonly LoadSampleInput[]): void {
    for (const r of rows) this.samples.set(`${r.id}|${r.atMs}`, r);
  }

  get rows(): number {
    return this.samples.size + this.buckets.size;
  }

  /** As `LoadCompaction` says: fold, drop past the retention; over maxRows, the oldest buckets go, then the oldest samples fold. */
  compact(foldBeforeMs: number, dropBeforeMs: number, maxRows: number): void {
    this.fold(foldBeforeMs);
    this.dropBuckets((start) => start < dropBeforeMs);
    /** The time of the k-th oldest (0-based) of these times. */
    const nth = (times: number[], k: number) => times.sort((x, y) => x - y)[Math.max(0, k)];
    const bucketTimes = () => [...this.buckets.keys()].map((g) => Number(g.split("|")[1]));
    const shedBuckets = () => {
      const over = this.rows - maxRows;
      if (over <= 0) return;
      const t = nth(bucketTimes(), Math.min(over, this.buckets.size) - 1);
      if (t !== undefined) this.dropBuckets((start) => start <= t);
    };
    shedBuckets();
    const over = this.rows - maxRows;
    if (over > 0) {
      const t = nth(
        [...this.samples.values()].map((x) => x.atMs),
        Math.min(over, this.samples.size) - 1,
      );
      if (t !== undefined) this.fold(Math.floor(t / B) * B + B);
      shedBuckets();
    }
  }

  private dropBuckets(drop: (start: number) => boolean): void {
    for (const g of this.buckets.keys()) if (drop(Number(g.split("|")[1]))) this.buckets.delete(g);
  }

  private fold(foldBeforeMs: number): void {
    const edge = Math.floor(foldBeforeMs / B) * B;
    const groups = new Map<string, LoadSampleInput[]>();
    for (const [k, s] of this.samples) {
      if (s.atMs >= edge) continue;
      this.samples.delete(k);
      const g = `${s.id}|${Math.floor(s.atMs / B) * B}`;
      groups.set(g, [...(groups.get(g) ?? []), s]);
    }
    for (const [g, list] of groups) {
      const n = list.length;
      const add: Bucket = {
        n,
        cpu: list.reduce((a, s) => a + s.cpuMhz, 0) / n,
        cpuMax: Math.max(...list.map((s) => s.cpuMaxMhz)),
        mem: list.reduce((a, s) => a + s.memoryMiB, 0) / n,
        memMax: Math.max(...list.map((s) => s.memoryMiB)),
      };
      const old = this.buckets.get(g);
      this.buckets.set(
        g,
        old
          ? {
              n: old.n + n,
              cpu: (old.cpu * old.n + add.cpu * n) / (old.n + n),
              cpuMax: Math.max(old.cpuMax, add.cpuMax),
              mem: (old.mem * old.n + add.mem * n) / (old.n + n),
              memMax: Math.max(old.memMax, add.memMax),
            }
          : add,
      );
    }
  }

  series(id: string): LoadPoint[] {
    const out: LoadPoint[] = [];
    for (const [g, b] of this.buckets) {
      const [bid, at] = g.split("|");
      if (bid === id)
        out.push({
          atMs: Number(at),
          bucketMs: B,
          samples: b.n,
          cpuMhz: b.cpu,
          cpuMaxMhz: b.cpuMax,
          memoryMiB: b.mem,
          memoryMaxMiB: b.memMax,
        });
    }
    for (const s of this.samples.values()) {
      if (s.id === id)
        out.push({
          atMs: s.atMs,
          bucketMs: 0,
          samples: 1,
          cpuMhz: s.cpuMhz,
          cpuMaxMhz: s.cpuMaxMhz,
          memoryMiB: s.memoryMiB,
          memoryMaxMiB: s.memoryMiB,
        });
    }
    return out.sort((x, y) => x.atMs - y.atMs || y.bucketMs - x.bucketMs);
  }
}

/** Equal up to the rounding of a mean merged in another order. */
function expectSame(got: LoadPoint[], want: LoadPoint[], what: string): void {
  const round = (p: LoadPoint) => ({ ...p, cpuMhz: Math.round(p.cpuMhz * 1e6) / 1e6, memoryMiB: Math.round(p.memoryMiB * 1e6) / 1e6 });
  expect(got.map(round), what).toEqual(want.map(round));
}

describe("load history compaction", () => {
  it(
    "folds, drops and sheds as documented, whatever the order of appends and compactions",
    () => {
      using dir = tempDir();
      let run = 0;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), (ops) => {
          using s = Store.open({ path: dir.file(`load-${run++}.db`) });
          const model = new Model();
          for (const op of ops) {
            if (op.kind === "append") {
              s.load.append(op.rows);
              model.append(op.rows);
            } else {
              s.load.compact(op);
              model.compact(op.foldBeforeMs, op.dropBeforeMs, op.maxRows);
              expect(s.load.rows).toBeLessThanOrEqual(op.maxRows);
            }
            for (const id of IDS) expectSame(s.load.series("vm", id, 0), model.series(id), `${id} after ${op.kind}`);
            expect(s.load.rows).toBe(model.rows);
          }
        }),
        RUNS,
      );
      // A deeper search by hand (STORE_FC_RUNS) takes longer than vitest's default.
    },
    20 * Math.max(30_000, RUNS.numRuns * 20),
  );
});
