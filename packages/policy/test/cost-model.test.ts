import { describe, expect, it } from "vitest";
import { calibrateMigrationModel, defaultClusterConfig, predictAllStrategies, predictMigration } from "../src/index.js";

const cfg = defaultClusterConfig.migration;
const MIB = 1_048_576;

describe("migration cost model", () => {
  it("matches the lab: a 96 MiB guest over loopback migrates in 3-5 s with 0.2-0.5 s downtime", () => {
    for (const dirty of [0, 1 * MIB, 8 * MIB]) {
      const p = predictMigration({ memoryMiB: 96, dirtyRateBytesPerSec: dirty, bandwidthBytesPerSec: 125_000_000 }, cfg);
      expect(p?.strategy).toBe("live");
      expect(p?.durationMs).toBeGreaterThanOrEqual(3000);
      expect(p?.durationMs).toBeLessThanOrEqual(5000);
      expect(p?.downtimeMs).toBeGreaterThanOrEqual(200);
      expect(p?.downtimeMs).toBeLessThanOrEqual(500);
    }
  });

  it("follows the geometric series: more dirtying means more iterations and bytes", () => {
    const rows = [0, 10, 40, 70].map((pct) =>
      predictMigration({ memoryMiB: 4096, dirtyRateBytesPerSec: (pct / 100) * 100_000_000, bandwidthBytesPerSec: 125_000_000 }, cfg),
    );
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]?.iterations).toBeGreaterThanOrEqual(rows[i - 1]?.iterations ?? 0);
      expect(rows[i]?.bytesSent).toBeGreaterThan(rows[i - 1]?.bytesSent ?? 0);
      expect(rows[i]?.durationMs).toBeGreaterThan(rows[i - 1]?.durationMs ?? 0);
    }
    // ratio r = 0.4: bytes ≈ M / (1 - r) once converged.
    const r = rows[2];
    expect(r?.bytesSent).toBeGreaterThan(4096 * MIB * 1.6);
    expect(r?.bytesSent).toBeLessThan(4096 * MIB * (1 / 0.6) + 1);
  });

  const table: { name: string; dirty: number; over: Partial<typeof cfg>; postCopyVm?: boolean; strategy: string | null }[] = [
    { name: "quiet guest", dirty: 1 * MIB, over: {}, strategy: "live" },
    { name: "dirtier than the link, auto-converge on", dirty: 150_000_000, over: {}, strategy: "live-auto-converge" },
    { name: "dirtier than the link, nothing allowed", dirty: 150_000_000, over: { allowAutoConverge: false }, strategy: null },
    {
      name: "post-copy when allowed by config and VM",
      dirty: 150_000_000,
      over: { allowAutoConverge: false, allowPostCopy: true },
      postCopyVm: true,
      strategy: "post-copy",
    },
    {
      name: "post-copy not allowed by the VM",
      dirty: 150_000_000,
      over: { allowAutoConverge: false, allowPostCopy: true },
      strategy: null,
    },
    {
      name: "pause-and-copy as last resort",
      dirty: 150_000_000,
      over: { allowAutoConverge: false, allowPauseAndCopy: true },
      strategy: "pause-and-copy",
    },
  ];
  for (const t of table) {
    it(`chooses the strategy: ${t.name}`, () => {
      const p = predictMigration(
        { memoryMiB: 2048, dirtyRateBytesPerSec: t.dirty, bandwidthBytesPerSec: 125_000_000, allowPostCopy: t.postCopyVm === true },
        { ...cfg, ...t.over },
      );
      expect(p?.strategy ?? null).toBe(t.strategy);
    });
  }

  it("prefers the cheaper of several escalations and orders costs by downtime", () => {
    const all = predictAllStrategies(
      { memoryMiB: 2048, dirtyRateBytesPerSec: 150_000_000, bandwidthBytesPerSec: 125_000_000, allowPostCopy: true },
      { ...cfg, allowPostCopy: true, allowPauseAndCopy: true },
    );
    expect(all.map((p) => p.strategy).sort()).toEqual(["live-auto-converge", "pause-and-copy", "post-copy"]);
    const best = predictMigration(
      { memoryMiB: 2048, dirtyRateBytesPerSec: 150_000_000, bandwidthBytesPerSec: 125_000_000, allowPostCopy: true },
      { ...cfg, allowPostCopy: true, allowPauseAndCopy: true },
    );
    expect(best?.cost).toBe(Math.min(...all.map((p) => p.cost)));
    const pause = all.find((p) => p.strategy === "pause-and-copy");
    expect(pause?.downtimeMs).toBeGreaterThan(10_000);
  });

  it("calibrates setup overhead and efficiency from measured migrations", () => {
    const truth = { ...cfg, bandwidthEfficiency: 0.5, setupOverheadMs: 1800, switchoverMs: 150 };
    const samples = [64, 96, 128, 512, 1024].map((mem) => {
      const p = predictMigration({ memoryMiB: mem, dirtyRateBytesPerSec: MIB, bandwidthBytesPerSec: 100_000_000 }, truth);
      return {
        memoryMiB: mem,
        dirtyRateBytesPerSec: MIB,
        bandwidthBytesPerSec: 100_000_000,
        durationMs: p?.durationMs ?? 0,
        downtimeMs: p?.downtimeMs ?? 0,
      };
    });
    const c = calibrateMigrationModel(samples, cfg);
    expect(c.bandwidthEfficiency).toBeCloseTo(0.5, 2);
    expect(c.setupOverheadMs).toBeGreaterThan(1700);
    expect(c.setupOverheadMs).toBeLessThan(1900);
    expect(c.switchoverMs).toBeGreaterThan(100);
    expect(c.switchoverMs).toBeLessThan(200);
    expect(() => calibrateMigrationModel([], cfg)).toThrow(/no samples/);
  });

  it("with few samples keeps the configured efficiency and fits only the offsets", () => {
    // Two lab moves: the bigger guest was idle and quick, the smaller busy and slow. A slope fitted
    // through them would read that as a slow link and mispredict every later move.
    const two = [
      { memoryMiB: 96, dirtyRateBytesPerSec: 4 * MIB, bandwidthBytesPerSec: 125_000_000, durationMs: 3600, downtimeMs: 300 },
      { memoryMiB: 128, dirtyRateBytesPerSec: 0, bandwidthBytesPerSec: 125_000_000, durationMs: 2800, downtimeMs: 250 },
    ];
    const c = calibrateMigrationModel(two, cfg, { fitEfficiency: false });
    expect(c.bandwidthEfficiency).toBe(cfg.bandwidthEfficiency);
    const p = predictMigration({ memoryMiB: 128, dirtyRateBytesPerSec: 0, bandwidthBytesPerSec: 125_000_000 }, { ...cfg, ...c });
    expect(Math.abs((p?.durationMs ?? 0) - 3200) / 3200).toBeLessThan(0.2);
    expect(calibrateMigrationModel(two, cfg).bandwidthEfficiency).not.toBe(cfg.bandwidthEfficiency);
    // A third, ordinary move: the median offsets follow the two ordinary ones, not the odd one.
    const three = [...two, { ...two[1]!, durationMs: 2700 }];
    const c3 = calibrateMigrationModel(three, cfg, { fitEfficiency: false });
    const p3 = predictMigration({ memoryMiB: 128, dirtyRateBytesPerSec: 0, bandwidthBytesPerSec: 125_000_000 }, { ...cfg, ...c3 });
    expect(Math.abs((p3?.durationMs ?? 0) - 2750) / 2750).toBeLessThan(0.05);
  });
});

describe("migration cost model: local disks", () => {
  const base = { memoryMiB: 1024, dirtyRateBytesPerSec: 0, bandwidthBytesPerSec: 125_000_000 };
  const all = { ...cfg, allowPauseAndCopy: true };

  it("charges the bytes a copy-storage move copies: its time at the bandwidth, for every strategy", () => {
    const disk = 10 * 1024 * MIB;
    const bw = base.bandwidthBytesPerSec * cfg.bandwidthEfficiency;
    const shared = predictMigration(base, cfg)!;
    const copied = predictMigration({ ...base, diskBytes: disk }, cfg)!;
    expect(copied.strategy).toBe("live");
    expect(copied.durationMs - shared.durationMs).toBeCloseTo((disk / bw) * 1000, 3);
    expect(copied.downtimeMs).toBe(shared.downtimeMs);
    expect(copied.bytesSent - shared.bytesSent).toBe(disk);
    expect(copied.cost).toBeGreaterThan(shared.cost);
  });

  it("pause-and-copy keeps the guest paused through the disk copy too", () => {
    const hot = { ...base, dirtyRateBytesPerSec: 500 * MIB };
    const disk = 1024 * MIB;
    const bw = base.bandwidthBytesPerSec * cfg.bandwidthEfficiency;
    const shared = predictAllStrategies(hot, all).find((p) => p.strategy === "pause-and-copy")!;
    const copied = predictAllStrategies({ ...hot, diskBytes: disk }, all).find((p) => p.strategy === "pause-and-copy")!;
    expect(copied.downtimeMs - shared.downtimeMs).toBeCloseTo((disk / bw) * 1000, 3);
  });
});
