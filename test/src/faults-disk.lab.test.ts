// Fault case 8 (issue 11): the disk under the scheduler's state directory fills up (a small tmpfs
// mounted for the test, filled by a file) with one move running and one queued. The scheduler must
// stop acting (no command it could not record first), say why (status API, log, `drover status`),
// keep serving reads and following the running move, not crash, and resume by itself once space
// returns, with nothing lost: the running move's end recorded, the queued one started once.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration, StatusResponse } from "@drover/protocol";
import { call, drover, http } from "./helpers/api.js";
import { migrations, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { commandReceipts, eachGuestOnOneHostTicking, waitPlannable } from "./helpers/faults.js";

let d: DroverLab | undefined;
const guests = ["vm1", "vm2"];
// The scheduler's state directory, on a filesystem of its own that the test can fill.
const stateDir = mkdtempSync(join(tmpdir(), "drover-disk-"));
const filler = join(stateDir, "filler");

beforeAll(async () => {
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", stateDir]);
  d = await DroverLab.start({
    net: 47,
    hosts: 2,
    guests: [
      // A working set of random data under the bandwidth cap: the move outlasts the disk filling.
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } },
      // Idle: the lab's default workload rewrites 8 MiB/s, as much as the cap copies, and its move
      // would run the escalation ladder before it could end.
      { name: "vm2", host: "h1", memoryMiB: 96, workload: { dirtyMb: 0 } },
    ],
    scheduler: {
      stateDir,
      policies: { balance: { mode: "off" } },
      // One move at a time off h1: vm2 waits behind vm1.
      limits: { perSource: 1 },
      // The last rung pauses rather than aborts: under the cap even an idle TCG guest may not
      // converge, and this test is about the scheduler's record, not about convergence.
      migration: {
        bandwidthMiBs: 8,
        escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "auto-converge" }, { action: "pause" }],
      },
      cooldowns: { vmMs: 1000, returnMs: 1000 },
    },
  });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    execFileSync("umount", ["--lazy", stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

/** Fills the state directory's filesystem to the last block. */
function fillDisk(): void {
  const { bavail, bsize } = statfsSync(stateDir);
  try {
    writeFileSync(filler, Buffer.alloc(bavail * bsize));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  }
  expect(statfsSync(stateDir).bavail).toBe(0);
}

const status = () => call(d!.api, "GET", "/v1/status", StatusResponse);

describe("disk full under the scheduler's state directory", () => {
  it("stops acting and says why, serves reads, and resumes by itself with nothing lost", async () => {
    const api = d!.api;
    const pid = d!.lab.scheduler?.pid;
    const running = await call(api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await vi.waitFor(
      async () => {
        const x = await call(api, "GET", `/v1/migrations/${running.id}`, ApiMigration);
        if ((x.progress?.fraction ?? 0) < 0.1) throw new Error(`waiting for vm1's move to run: ${x.state} ${JSON.stringify(x.progress)}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    const queued = await call(api, "POST", "/v1/migrations", ApiMigration, { vm: "vm2", host: "h2" });
    expect(queued.state).toBe("queued");

    fillDisk();
    const full = await vi.waitFor(
      async () => {
        const s = await status();
        if (s.store?.writable !== false) throw new Error(`waiting for the scheduler to see the full disk: ${JSON.stringify(s.store)}`);
        return s.store;
      },
      { timeout: 30_000, interval: 500 },
    );
    expect(full.reason).toContain(stateDir);
    expect(full.sinceMs).not.toBeNull();
    const cli = await drover(api, ["status"]);
    expect(cli.stdout).toMatch(/STORE NOT WRITABLE for .*not planning, moving, draining or powering hosts/);
    expect(readFileSync(d!.schedulerLog(), "utf8")).toMatch(/store write failed: not planning, starting moves/);
    // A change is refused with the reason; reads are served.
    const refused = await http(api, "POST", "/v1/migrations", { vm: "vm2", host: "h1" });
    expect(refused.status).toBe(503);
    expect(JSON.stringify(refused.body)).toMatch(/store-unwritable.*cannot record changes/);
    expect((await vms(api)).map((v) => v.name).sort()).toEqual(guests);

    // The running move is still followed to its end; the queued one is not started while full.
    await vi.waitFor(
      async () => {
        if ((await d!.hostOf("vm1")) !== "h2") throw new Error("waiting for vm1 to land on h2");
      },
      { timeout: 300_000, interval: 1000 },
    );
    // Long enough for its result to arrive and for the freed slot to be offered to vm2.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await call(api, "GET", `/v1/migrations/${queued.id}`, ApiMigration)).state).toBe("queued");
    expect(await commandReceipts(d!, queued.commandId)).toEqual({});
    expect((await status()).store?.writable).toBe(false);

    // Space returns: the scheduler resumes by itself.
    rmSync(filler);
    await vi.waitFor(
      async () => {
        const s = await status();
        if (s.store?.writable !== true) throw new Error(`waiting for the scheduler to resume: ${JSON.stringify(s.store)}`);
      },
      { timeout: 30_000, interval: 500 },
    );
    const ends = [await waitMigrationDone(api, running.id, 120_000), await waitMigrationDone(api, queued.id, 300_000)];
    for (const m of ends) {
      expect([m.vm, m.state, m.error], JSON.stringify(m)).toEqual([m.vm, "succeeded", null]);
      expect(m.measuredDurationMs, JSON.stringify(m)).not.toBeNull();
      expect(await commandReceipts(d!, m.commandId), m.vm).toEqual({ h1: 1 });
    }
    expect((await migrations(api)).map((m) => m.id).sort()).toEqual([running.id, queued.id].sort());
    const where = await eachGuestOnOneHostTicking(d!, guests);
    expect([...where.values()]).toEqual(["h2", "h2"]);
    // Reports are ingested again, and the scheduler never restarted.
    await vi.waitFor(
      async () => {
        const on = (await vms(api)).map((v) => `${v.name}@${v.host}`).sort();
        if (on.join() !== "vm1@h2,vm2@h2") throw new Error(`waiting for the reports to show both guests on h2: ${on.join()}`);
      },
      { timeout: 30_000, interval: 1000 },
    );
    expect(d!.lab.scheduler?.pid).toBe(pid);
    await waitPlannable(d!);
  });
});
