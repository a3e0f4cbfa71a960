// Load history: full-resolution samples, folded into 5-minute buckets (mean and max) as they age,
// bounded by a retention and a row count, read back after the file is reopened.
import { describe, expect, it } from "vitest";
import { LOAD_BUCKET_MS, Store, StoreError, type LoadSampleInput } from "../src/index.js";
import { tempDir } from "./helpers.js";

const sample = (id: string, atMs: number, cpuMhz: number, memoryMiB = 100): LoadSampleInput => ({
  kind: "host",
  id,
  atMs,
  cpuMhz,
  cpuMaxMhz: cpuMhz + 10,
  memoryMiB,
});

describe("load history", () => {
  it("keeps samples across a reopen and folds old ones into buckets with their mean and max", () => {
    using dir = tempDir();
    const t0 = 10 * LOAD_BUCKET_MS;
    {
      using s = Store.open({ path: dir.file() });
      // Two buckets' worth at one sample a minute, then two recent samples.
      s.load.append([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => sample("kvm01", t0 + i * 60_000, 100 * (i + 1), 50 + i)));
      s.load.append([sample("kvm01", t0 + 2 * LOAD_BUCKET_MS + 1000, 7)]);
    }
    using s = Store.open({ path: dir.file() });
    expect(s.load.series("host", "kvm01", 0)).toHaveLength(11);
    s.load.compact({ foldBeforeMs: t0 + 2 * LOAD_BUCKET_MS + 30_000, dropBeforeMs: 0, maxRows: 1000 });
    const pts = s.load.series("host", "kvm01", 0);
    expect(pts.map((p) => [p.atMs, p.bucketMs, p.samples])).toEqual([
      [t0, LOAD_BUCKET_MS, 5],
      [t0 + LOAD_BUCKET_MS, LOAD_BUCKET_MS, 5],
      [t0 + 2 * LOAD_BUCKET_MS + 1000, 0, 1],
    ]);
    expect(pts[0]).toMatchObject({ cpuMhz: 300, cpuMaxMhz: 510, memoryMiB: 52, memoryMaxMiB: 54 });
    expect(pts[1]).toMatchObject({ cpuMhz: 800, cpuMaxMhz: 1010 });
    // A later fold of samples into an existing bucket merges by weight.
    s.load.append([sample("kvm01", t0 + 30_000, 1200)]);
    s.load.compact({ foldBeforeMs: t0 + LOAD_BUCKET_MS, dropBeforeMs: 0, maxRows: 1000 });
    expect(s.load.series("host", "kvm01", 0)[0]).toMatchObject({ samples: 6, cpuMhz: (300 * 5 + 1200) / 6, cpuMaxMhz: 1210 });
  });

  it("drops buckets past the retention and keeps the total under maxRows, oldest first", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    const rows: LoadSampleInput[] = [];
    for (let i = 0; i < 100; i++) rows.push(sample("a", i * 60_000, i), sample("b", i * 60_000, i));
    s.load.append(rows);
    s.load.compact({ foldBeforeMs: 50 * 60_000, dropBeforeMs: 20 * 60_000, maxRows: 1000 });
    // 0..49 min folded into 10 buckets per series, the first four (before 20 min) dropped: 6 buckets + 50 samples each.
    expect(s.load.series("host", "a", 0)).toHaveLength(56);
    s.load.compact({ foldBeforeMs: 0, dropBeforeMs: 0, maxRows: 60 });
    expect(s.load.rows).toBeLessThanOrEqual(60);
    const a = s.load.series("host", "a", 0);
    // What is left is the newest: the last sample survives at full resolution.
    expect(a.at(-1)).toMatchObject({ atMs: 99 * 60_000, bucketMs: 0 });
    expect(s.load.ids("host")).toEqual(["a", "b"]);
    expect(
      s.load
        .recent("host", 95 * 60_000)
        .get("b")
        ?.map((p) => p.cpuMhz),
    ).toEqual([95, 96, 97, 98, 99]);
  });

  it("refuses a malformed sample naming the field, and keeps nothing of that batch", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    expect(() => s.load.append([sample("a", 1, 1), { ...sample("a", 2, 1), cpuMhz: -1 }])).toThrow(/load.append: cpuMhz must be/);
    expect(() => s.load.append([{ ...sample("a", 2, 1), kind: "rack" as "host" }])).toThrow(StoreError);
    expect(s.load.rows).toBe(0);
    expect(() => s.load.compact({ foldBeforeMs: 0, dropBeforeMs: 0, maxRows: 0 })).toThrow(/maxRows/);
  });
});
