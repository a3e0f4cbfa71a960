// Every migration strategy carried out through the dispatcher on real guests (issue 12, "Strategies
// carried out"), on one two-host lab whose migration bandwidth is capped at 16 MiB/s:
// - a guest with a local qcow2 data disk moves live with copy-storage, and what the guest sees on
//   that disk on the destination hashes the same as on the source;
// - two guests that dirty memory faster than the cap are predicted non-convergent (auto-converge is
//   not allowed here) and move by what the config allows them: post-copy for the one tagged
//   drover:post-copy, pause-and-copy for the other;
// each move's record names its strategy, what completed it and the measured downtime, and every
// guest's tick counter continues on h2. The moves run one after another: concurrent moves share the
// link, and their predictions (so their strategies) would be made on a divided bandwidth.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ticksAbove } from "@drover/lab/testing";
import { diskContentHash, localDiskNsPath } from "@drover/lab";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { dirtyRateReported, ticksMoved, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

// The agent's dirty rate comes from QEMU's page sampling (about 48 pages of a 96 MiB guest over 1 s),
// so each sampled page an idle guest's kernel writes reads as 2 MiB/s: at 4 MiB/s two such pages
// made the idle disk guest look non-convergent. At 16 MiB/s it takes seven; the busy guests read
// about 32 MiB/s (their whole working set each second).
const CAP_MIBS = 16;
const measured: { strategy: string; vm: string; durationMs: number | null; downtimeMs: number | null; completedBy: string | null }[] = [];

let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 49,
    hosts: 2,
    guests: [
      { name: "disk1", host: "h1", workload: { dirtyMb: 0 }, localDisk: { sizeMiB: 32, dataMiB: 8 } },
      // Writes that change the bytes: QEMU's dirty-rate sampling compares page hashes, so the lab's
      // default rewrite of the same bytes would read as idle and be predicted to converge.
      // The whole set each second, twice what the cap copies: not "max", which kept two cores busy.
      { name: "pc1", host: "h1", tags: ["drover:post-copy"], workload: { dirtyMb: 32, dirtyRate: 32, changing: true } },
      { name: "pause1", host: "h1", workload: { dirtyMb: 32, dirtyRate: 32, changing: true } },
    ],
    // The dirty rate the cost model predicts from, measured every 5 s rather than every minute.
    agent: { dirtyRate: { everyMs: 5000 } },
    scheduler: {
      policies: { balance: { mode: "off" }, consolidate: { mode: "off" } },
      // No ladder: each move completes by the strategy it was sent, not by a rung climbed on the way.
      migration: { bandwidthMiBs: CAP_MIBS, allowPostCopy: true, escalation: [], timeoutMs: 180_000 },
      planner: { migration: { allowAutoConverge: false, allowPauseAndCopy: true } },
    },
  });
  await waitReady(d.api, 2, ["disk1", "pc1", "pause1"]);
}, 300_000);

afterAll(async () => {
  if (measured.length) {
    console.log("strategy          vm      migration   downtime  completedBy");
    for (const m of measured) {
      const s = (ms: number | null) => (ms === null ? "?" : `${(ms / 1000).toFixed(2)} s`);
      console.log(
        `${m.strategy.padEnd(17)} ${m.vm.padEnd(7)} ${s(m.durationMs).padStart(9)} ${s(m.downtimeMs).padStart(10)}  ${m.completedBy}`,
      );
    }
  }
  await d?.stop();
});

/** Asks for the move through the API (the dispatcher predicts its strategy) and waits for its end on h2, ticking. */
async function move(vm: string): Promise<ApiMigration> {
  const before = await d.ticks(vm);
  expect(before.host).toBe("h1");
  const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm, host: "h2" });
  const done = await waitMigrationDone(d.api, m.id, 240_000);
  measured.push({
    strategy: done.strategy ?? "none",
    vm,
    durationMs: done.measuredDurationMs,
    downtimeMs: done.measuredDowntimeMs,
    completedBy: done.completedBy,
  });
  expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
  // The same guest, arrived by migration (not a reboot), ticking on h2 past where it was.
  const after = await ticksMoved(d, vm, "h1", before.last);
  expect(after.host).toBe("h2");
  await ticksAbove(`${vm} ticking again on h2`, d.lab.host("h2").serialFile(vm), after.last);
  expect(done.measuredDowntimeMs).not.toBeNull();
  return done;
}

describe("migration strategies", () => {
  it("copies a local qcow2 disk to the destination (copy-storage): the guest's disk content is the same there", async () => {
    const nsPath = localDiskNsPath("disk1");
    const sourceHash = await diskContentHash(d.lab.host("h1").hostPath(nsPath));
    await dirtyRateReported(d, { host: "h1", vm: "disk1" }, "under", CAP_MIBS);
    const done = await move("disk1");
    expect(done.strategy).toBe("live");
    expect(done.completedBy).toBe("live");
    expect(await diskContentHash(d.lab.host("h2").hostPath(nsPath))).toBe(sourceHash);
  });

  it("moves a guest that outruns the bandwidth by post-copy where its tag allows it", async () => {
    await dirtyRateReported(d, { host: "h1", vm: "pc1" }, "over", CAP_MIBS);
    const done = await move("pc1");
    expect(done.strategy).toBe("post-copy");
    expect(done.completedBy).toBe("post-copy");
  });

  it("moves a guest that outruns the bandwidth by pause-and-copy where post-copy is not allowed, its pause measured as downtime", async () => {
    await dirtyRateReported(d, { host: "h1", vm: "pause1" }, "over", CAP_MIBS);
    const done = await move("pause1");
    expect(done.strategy).toBe("pause-and-copy");
    expect(done.completedBy).toBe("offline");
    // Paused for the whole copy: far longer than a live switchover, and within the move (it ends on the resume).
    expect(done.measuredDowntimeMs!).toBeGreaterThan(1000);
    expect(done.measuredDowntimeMs!).toBeLessThanOrEqual(done.measuredDurationMs!);
  });
});
