// Fault case 3 (issue 11): the source agent is killed (SIGKILL) at ~20 % of a real live migration
// and started again as systemd would. libvirt runs a peer-to-peer migration by itself, so the
// restarted agent must find the job (or its outcome) and report it by the same command id; the
// scheduler must neither abort a healthy job nor send it again, and record one outcome that is the
// truth (where the guest's QEMU runs, from the lab's process table).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration, StatusResponse } from "@drover/protocol";
import { ticksAbove } from "@drover/lab/testing";
import { call } from "./helpers/api.js";
import { hosts, migrations, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];
/** How soon after a fault the cluster must be plannable again (stated by issue 11's matrix). */
const PLANNABLE_WITHIN_MS = 60_000;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 36,
    hosts: 2,
    guests: [
      // Dirties a working set of random data: with the bandwidth cap below the move takes seconds,
      // long enough to kill the agent in the middle of it; it still converges.
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } },
      { name: "vm2", host: "h2", memoryMiB: 96 },
    ],
    scheduler: {
      policies: { balance: { mode: "off" } },
      migration: { bandwidthMiBs: 4 },
      // Only the fault's outcome may hold the VM back: no ordinary cool-down after a good move.
      cooldowns: { vmMs: 1000, returnMs: 1000 },
    },
  });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

/** Lines of a host's agent log (both runs of the agent append to it) that mention every one of `texts`. */
async function agentLogLines(host: string, ...texts: string[]): Promise<string[]> {
  const log = await readFile(join(d.lab.host(host).dir, "agent.log"), "utf8");
  return log.split("\n").filter((l) => texts.every((t) => l.includes(t)));
}

describe("source agent killed mid-migration and restarted", () => {
  it("reports the move by the same command id; one truthful outcome, nothing sent twice, the cluster plannable again", async () => {
    const t0 = Date.now();
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    const at20 = await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
        if ((x.progress?.fraction ?? 0) < 0.2) throw new Error(`waiting for 20 % of the move: ${x.state} ${JSON.stringify(x.progress)}`);
        return x;
      },
      { timeout: 120_000, interval: 100 },
    );
    expect(at20.state).toBe("running");
    const killedAgent = d.lab.host("h1").agent?.pid;
    await d.lab.kill("agent", "h1");
    expect(d.lab.host("h1").agent?.running).toBe(false);
    // systemd's RestartSec: the agent is down for a moment, the job goes on in libvirt.
    await new Promise((r) => setTimeout(r, 2000));
    await d.lab.restart("agent", "h1");
    expect(d.lab.host("h1").agent?.pid).not.toBe(killedAgent);

    const done = await waitMigrationDone(d.api, m.id, 300_000);
    const where = await d.hostOf("vm1");
    // The record is the truth: where vm1's QEMU runs now.
    if (where === "h2") {
      expect(done.state, JSON.stringify(done)).toBe("succeeded");
      expect(done.error).toBeNull();
      expect(done.vmRunningOn).toBe("h2");
      expect(done.measuredDurationMs).not.toBeNull();
    } else {
      expect(where).toBe("h1");
      expect(done.state, JSON.stringify(done)).toBe("failed");
      expect(done.error?.code).toBe("migration-interrupted");
    }
    expect(done.error?.code).not.toBe("unknown-command");

    // Exactly one move of vm1, with one outcome, and its command reached an agent once.
    const all = await migrations(d.api);
    expect(all.filter((x) => x.vm === "vm1").map((x) => x.id)).toEqual([m.id]);
    expect(await agentLogLines("h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);
    expect(await agentLogLines("h2", done.commandId)).toHaveLength(0);
    // Nor was the healthy job aborted.
    expect(await agentLogLines("h1", '"kind":"abort"', '"command received"')).toHaveLength(0);
    // The restarted agent answered for the job it found (recovered, same ids).
    expect((await agentLogLines("h1", "recovered migration ended")).join("\n")).toContain(done.id);

    // Every guest runs on exactly one host and keeps ticking.
    for (const g of guests) {
      const on = [];
      for (const h of d.lab.hosts) if ((await h.qemuProcs()).some((q) => q.guest === g)) on.push(h.name);
      expect(on, `${g} runs on`).toHaveLength(1);
      const file = d.lab.host(on[0]!).serialFile(g);
      const now = (await d.ticks(g)).last;
      await ticksAbove(`${g} ticking on ${on[0]}`, file, now, 30_000);
    }

    // Plannable again: both hosts healthy, nothing in flight, and a new move of the same VM is
    // admitted (no failure cool-down charged for a pair that works) and runs to its end.
    const plannableBy = Date.now() + PLANNABLE_WITHIN_MS;
    await vi.waitFor(
      async () => {
        const hs = await hosts(d.api);
        const st = await call(d.api, "GET", "/v1/status", StatusResponse);
        if (hs.some((h) => h.state !== "healthy") || st.migrations.inFlight > 0)
          throw new Error(
            `waiting for a plannable cluster: ${hs.map((h) => `${h.id} ${h.state}`).join(", ")}; ${st.migrations.inFlight} in flight`,
          );
      },
      { timeout: PLANNABLE_WITHIN_MS, interval: 1000 },
    );
    expect(Date.now()).toBeLessThanOrEqual(plannableBy);
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: where === "h2" ? "h1" : "h2" });
    const backDone = await waitMigrationDone(d.api, back.id, 300_000);
    expect(backDone.state, JSON.stringify(backDone.error)).toBe("succeeded");
    console.log(`fault case 3: move ended ${done.state} after ${((done.endedAtMs ?? 0) - t0) / 1000} s`);
  });
});
