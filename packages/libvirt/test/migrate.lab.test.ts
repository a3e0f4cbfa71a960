// Real libvirtd + QEMU: two lab hosts on 127.0.44.x (packages/lab), one tiny guest moved between
// them with migrateToUri3 while jobStats is polled on the same connection from other threads.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive, LabHost, readTicks, startGuest } from "@drover/lab";
import { ticksAbove } from "@drover/lab/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { CloseReason, JobCompletedEventInfo, JobStats, LifecycleEventInfo, MigrationIterationEventInfo } from "../src/index.js";
import { Connection, DomainStatsTypes, ErrorCode, LibvirtError, MigrateFlags } from "../src/index.js";

const NET = 44; // 127.0.44.x: a net no other test in the repo uses (lab files run several at a time)
const GUEST = "lvmig1";
const FLAGS = MigrateFlags.LIVE | MigrateFlags.PEER2PEER | MigrateFlags.UNSAFE | MigrateFlags.PERSIST_DEST | MigrateFlags.UNDEFINE_SOURCE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a migration while polling jobStats every 100 ms; returns what the polls saw. */
async function migrateWhilePolling(
  conn: Connection,
  dest: string,
  bandwidthMiBs: number,
  during?: (stats: JobStats) => Promise<void>,
  flags = FLAGS,
): Promise<{ polls: JobStats[]; result: unknown }> {
  const dom = await conn.lookupDomain(GUEST);
  const polls: JobStats[] = [];
  let done = false;
  const migration = dom.migrateToUri3(dest, { bandwidthMiBs }, flags).then(
    () => "ok",
    (e: unknown) => e,
  );
  void migration.finally(() => (done = true));
  let acted = false;
  while (!done) {
    const s = await dom.jobStats().catch(() => undefined);
    if (s !== undefined && s.type !== "none") {
      polls.push(s);
      if (!acted && during && (s.dataProcessed ?? 0) > 0) {
        acted = true;
        await during(s);
      }
    }
    await sleep(100);
  }
  const result = await migration;
  dom.free();
  return { polls, result };
}

describe("libvirt over real lab hosts (127.0.44.x)", () => {
  let stateDir: string;
  let h1: LabHost;
  let h2: LabHost;
  let c1: Connection;
  let c2: Connection;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-libvirt-lab-"));
    h1 = new LabHost({ name: "lv1", index: 1, net: NET, stateDir });
    h2 = new LabHost({ name: "lv2", index: 2, net: NET, stateDir });
    await Promise.all([h1.start(), h2.start()]);
    await startGuest(h1, { name: GUEST, memoryMiB: 96, workload: { dirtyMb: 8 } });
    // TCG boot on a shared 2-core machine: seconds when idle, much longer under load.
    await ticksAbove("guest ticks", h1.serialFile(GUEST), 1, 240_000).catch(async (e: unknown) => {
      const serial = await readFile(h1.serialFile(GUEST), "utf8").catch(() => "(none)");
      throw new Error(`${String(e)}; serial output: ${serial.slice(-500)}`);
    });
    c1 = await Connection.open(h1.uri, { keepaliveIntervalS: 2, keepaliveCount: 3 });
    c2 = await Connection.open(h2.uri, { keepaliveIntervalS: 2, keepaliveCount: 3 });
  });

  /**
   * Moves the guest to `to` unless it runs there already: each test states where the guest must be,
   * so it passes when run alone (-t), not only after the tests before it moved the guest.
   */
  async function guestOn(to: "lv1" | "lv2"): Promise<void> {
    const [src, dst, dstConn] = to === "lv1" ? [c2, h1, c1] : [c1, h2, c2];
    const there = await dstConn.lookupDomain(GUEST).then(
      (d) => (d.free(), true),
      () => false,
    );
    if (there) return;
    const dom = await src.lookupDomain(GUEST);
    const ticks = await readTicks(dst.serialFile(GUEST));
    try {
      await dom.migrateToUri3(dst.uri, { bandwidthMiBs: 1024 }, FLAGS);
    } finally {
      dom.free();
    }
    await ticksAbove(`guest ticking on ${to}`, dst.serialFile(GUEST), ticks);
  }

  afterAll(async () => {
    for (const h of [h1, h2]) {
      if (!h?.running) continue;
      const c = await Connection.open(h.uri).catch(() => undefined);
      const dom = await c?.lookupDomain(GUEST).catch(() => undefined);
      await dom?.destroy().catch(() => undefined);
      await dom?.undefine().catch(() => undefined);
      dom?.free();
      await c?.close();
    }
    await c1?.close();
    await c2?.close();
    // A guest libvirt could not destroy (e.g. setup failed half-way) must not outlive the test.
    const leftovers = (await Promise.all([h1, h2].map((h) => h?.qemuProcs() ?? []))).flat().filter((q) => q.guest === GUEST);
    await Promise.all([h1?.stop(), h2?.stop()]);
    for (const { proc } of leftovers) {
      if (isAlive(proc)) process.kill(proc.pid, "SIGKILL"); // checked by pid and start time
    }
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it("reads host facts from a real QEMU driver", async () => {
    expect((await c1.version()).driver).toBe("QEMU");
    expect(await c1.hostname()).toBe("lv1");
    expect((await c1.nodeInfo()).cpus).toBeGreaterThan(0);
    const caps = await c1.capabilities();
    expect(caps).toContain(`<uuid>${h1.hostUuid}</uuid>`);
    const hostCpu = /<cpu>[\s\S]*?<\/cpu>/.exec(caps)?.[0];
    expect(hostCpu).toBeDefined();
    expect(["identical", "superset"]).toContain(await c2.compareCpu(hostCpu ?? ""));
    expect(await c1.isAlive()).toBe(true);
  });

  it("decodes getAllDomainStats of a running QEMU guest, and measures its dirty rate", async () => {
    await guestOn("lv1");
    const dom = await c1.lookupDomain(GUEST);
    try {
      const [s] = await c1.allDomainStats({ domains: [dom] });
      expect(s?.state?.state).toBe("running");
      expect(s?.cpu?.timeNs).toBeGreaterThan(0);
      expect(s?.balloon?.maximumKiB).toBe(96 * 1024);
      expect(s?.vcpu[0]?.timeNs).toBeGreaterThan(0);
      expect(s?.vcpu[0]?.delayNs).toBeTypeOf("number");
      expect(s?.block[0]?.path).toBe(join(h1.sharedDir, `${GUEST}.raw`));
      expect(s?.block[0]?.capacity).toBe(16 * 1024 * 1024);

      await dom.startDirtyRateCalc(1);
      const measured = await vi.waitFor(
        async () => {
          const [d] = await c1.allDomainStats({ domains: [dom], stats: DomainStatsTypes.DIRTYRATE });
          if (d?.dirtyRate?.status !== "measured") throw new Error(`waiting for a measured dirty rate: ${JSON.stringify(d?.dirtyRate)}`);
          return d.dirtyRate;
        },
        { timeout: 60_000, interval: 200 },
      );
      expect(measured.periodS).toBe(1);
      expect(measured.mibPerS).toBeTypeOf("number");
      expect(await dom.xml({ migratable: true })).toContain(`<name>${GUEST}</name>`);
    } finally {
      dom.free();
    }
  });

  it("migrates h1 -> h2 with migrateToUri3 while jobStats and setMaxDowntime run alongside", async () => {
    await guestOn("lv1");
    const iterations: MigrationIterationEventInfo[] = [];
    const completed: JobCompletedEventInfo[] = [];
    const arrived: LifecycleEventInfo[] = [];
    const offs = [
      c1.onMigrationIteration((e) => iterations.push(e)),
      c1.onJobCompleted((e) => completed.push(e)),
      c2.onLifecycle((e) => arrived.push(e)),
    ];
    const ticksBefore = await readTicks(h1.serialFile(GUEST));
    let downtime = -1;
    const { polls, result } = await migrateWhilePolling(c1, h2.uri, 16, async () => {
      const d = await c1.lookupDomain(GUEST);
      await d.setMaxDowntimeMs(400);
      downtime = await d.maxDowntimeMs();
      d.free();
    });
    offs.forEach((off) => off());
    expect(result).toBe("ok");
    expect(downtime).toBe(400);
    expect(polls.length).toBeGreaterThan(2);
    const last = polls[polls.length - 1];
    expect(last?.type).toBe("unbounded");
    expect(last?.dataTotal).toBeGreaterThan(0);
    // Guest RAM plus QEMU's small extra regions (ROMs, video).
    expect(last?.memTotal).toBeGreaterThanOrEqual(96 * 1024 * 1024);
    expect(last?.memTotal).toBeLessThan(128 * 1024 * 1024);
    expect(Math.max(...polls.map((p) => p.memProcessed ?? 0))).toBeGreaterThan(0);

    const moved = await c2.lookupDomain(GUEST);
    expect((await moved.info()).state).toBe("running");
    moved.free();
    await expect(c1.lookupDomain(GUEST)).rejects.toMatchObject({ libvirtCode: ErrorCode.NO_DOMAIN });
    await ticksAbove("ticks on h2", h2.serialFile(GUEST), ticksBefore);

    await expect.poll(() => completed.length, { timeout: 10_000, interval: 100, message: "job-completed event" }).toBeGreaterThan(0);
    expect(completed[0]?.domain.name).toBe(GUEST);
    expect(completed[0]?.stats.downtimeMs).toBeGreaterThan(0);
    expect(iterations.length).toBeGreaterThan(0);
    expect(arrived.some((e) => e.event === "resumed" || (e.event === "started" && e.detail === "migrated"))).toBe(true);
  });

  it("aborts a slow migration h2 -> h1: migrateToUri3 rejects with OPERATION_ABORTED, guest stays on h2", async () => {
    await guestOn("lv2");
    const { result } = await migrateWhilePolling(c2, h1.uri, 1, async () => {
      const d = await c2.lookupDomain(GUEST);
      await d.abortJob();
      d.free();
    });
    expect(result).toBeInstanceOf(LibvirtError);
    expect((result as LibvirtError).libvirtCode).toBe(ErrorCode.OPERATION_ABORTED);
    const dom = await c2.lookupDomain(GUEST);
    expect((await dom.info()).state).toBe("running");
    // The speed limit set by the migration stays with the domain until changed.
    await dom.setMaxSpeedMiBs(8192);
    expect(await dom.maxSpeedMiBs()).toBe(8192);
    expect((await dom.jobStats()).type).toBe("none"); // no job left running
    dom.free();
  });

  it("reports a dead daemon through onClose, and reconnect() recovers the same Connection", async () => {
    await guestOn("lv2");
    const reasons: CloseReason[] = [];
    const off = c2.onClose((r) => reasons.push(r));
    await h2.stop();
    await expect.poll(() => reasons.length, { timeout: 30_000, interval: 100, message: "close reported" }).toBeGreaterThan(0);
    expect(reasons).toEqual(["lost"]);
    expect(await c2.isAlive()).toBe(false);
    await h2.start();
    await c2.reconnect();
    expect(await c2.isAlive()).toBe(true);
    const dom = await c2.lookupDomain(GUEST);
    expect((await dom.info()).state).toBe("running");
    dom.free();
    off();
  });

  it("reports a daemon killed while calls run on other threads, once per kill, and the process lives on", async () => {
    // libvirt notices the dead socket on whichever thread is in an RPC. Its close callback, called
    // there, never reached JS and later crashed this process in V8's GC (native/event-worker.ts).
    for (let round = 1; round <= 3; round++) {
      await h2.start();
      const c = await Connection.open(h2.uri);
      const reasons: CloseReason[] = [];
      c.onClose((r) => reasons.push(r));
      let stop = false;
      let answered = 0;
      const callers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          await c.version().then(
            () => answered++,
            () => sleep(5),
          );
        }
      });
      await vi.waitFor(() => expect(answered).toBeGreaterThan(20), { timeout: 30_000 });
      await h2.killLibvirtd();
      await expect.poll(() => reasons, { timeout: 10_000, interval: 50, message: `close reported in round ${round}` }).toEqual(["lost"]);
      stop = true;
      await Promise.all(callers);
      await c.close();
      expect(reasons).toEqual(["lost", "client"]);
    }
    await h2.start();
    await c2.reconnect();
    expect(await c2.isAlive()).toBe(true);
  });

  it("switches a slow migration h2 -> h1 to post-copy with startPostCopy, and it completes", async () => {
    await guestOn("lv2");
    const ticksBefore = await readTicks(h2.serialFile(GUEST));
    const { polls, result } = await migrateWhilePolling(
      c2,
      h1.uri,
      2,
      async () => {
        const d = await c2.lookupDomain(GUEST);
        await d.setMaxSpeedMiBs(64, { postcopy: true });
        await d.startPostCopy();
        d.free();
      },
      FLAGS | MigrateFlags.POSTCOPY,
    );
    expect(result).toBe("ok");
    // At 2 MiB/s pre-copy alone would need ~50 s; post-copy finished it long before.
    expect(polls.length).toBeLessThan(300);
    const dom = await c1.lookupDomain(GUEST);
    expect((await dom.info()).state).toBe("running");
    dom.free();
    await ticksAbove("ticks on h1", h1.serialFile(GUEST), ticksBefore);
  });
});
