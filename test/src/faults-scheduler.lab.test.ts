// Fault case 4 (issue 11): the scheduler is killed (SIGKILL) with one move running, one sent but not
// yet answered (its source agent is stopped for the moment, as a busy or slow agent would be) and
// one queued behind the in-flight limits, then started again. Each move must end exactly once: the
// running one followed to its real outcome (not sent again, not aborted), the unanswered one asked
// about by its command id, the queued one started once; the store holds one outcome per move with
// its cause and what was measured; no command reached an agent twice.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration, HistoryResponse, StatusResponse } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { migrations, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, commandReceipts, eachGuestOnOneHostTicking, waitPlannable } from "./helpers/faults.js";

let d: DroverLab;
let stopped: number | undefined;
const guests = ["vm1", "vm2", "vm3"];

beforeAll(async () => {
  d = await DroverLab.start({
    net: 46,
    hosts: 3,
    guests: [
      // A working set of random data under the bandwidth cap: the move lasts long enough to be
      // running across the kill and the restart.
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } },
      // Idle: the lab's default workload rewrites 8 MiB/s, more than the cap copies, so each of
      // these moves ran the whole escalation ladder (tens of seconds) before it could end.
      { name: "vm2", host: "h1", memoryMiB: 96, workload: { dirtyMb: 0 } },
      { name: "vm3", host: "h3", memoryMiB: 96, workload: { dirtyMb: 0 } },
    ],
    scheduler: {
      policies: { balance: { mode: "off" } },
      // One move at a time off a source: vm2 waits behind vm1.
      limits: { perSource: 1 },
      // No preflight round trip: the migrate command is the one that goes unanswered. The last
      // rung pauses rather than aborts: under the cap even an idle TCG guest may not converge, and
      // this test is about the scheduler's record, not about convergence.
      migration: {
        bandwidthMiBs: 4,
        preflight: false,
        escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "auto-converge" }, { action: "pause" }],
      },
      cooldowns: { vmMs: 1000, returnMs: 1000 },
    },
  });
  await waitReady(d.api, 3, guests);
});

afterAll(async () => {
  if (stopped !== undefined) process.kill(stopped, "SIGCONT");
  await d?.stop();
});

const get = (id: string) => call(d.api, "GET", `/v1/migrations/${id}`, ApiMigration);

describe("scheduler killed with moves running, sent and queued", () => {
  it("ends each move exactly once with its cause, sends nothing twice, and is plannable again", async () => {
    const running = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await vi.waitFor(
      async () => {
        const x = await get(running.id);
        if ((x.progress?.fraction ?? 0) < 0.1) throw new Error(`waiting for vm1's move to run: ${x.state} ${JSON.stringify(x.progress)}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    const queued = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm2", host: "h3" });
    expect((await get(queued.id)).state).toBe("queued");
    // h3's agent cannot answer: the migrate command is recorded as sent and stays unanswered.
    stopped = d.lab.host("h3").agent!.pid!;
    process.kill(stopped, "SIGSTOP");
    const sent = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm3", host: "h2" });
    await vi.waitFor(
      async () => {
        const x = await get(sent.id);
        // Sent (recorded before the send) and not confirmed: no reply yet, so no start time.
        if (x.state !== "running" || x.startedAtMs !== null) throw new Error(`waiting for vm3's move to be sent: ${JSON.stringify(x)}`);
      },
      { timeout: 30_000, interval: 100 },
    );
    expect((await get(running.id)).state).toBe("running");
    expect((await get(queued.id)).state).toBe("queued");

    const t0 = Date.now();
    await d.lab.kill("scheduler");
    process.kill(stopped, "SIGCONT");
    stopped = undefined;
    await d.lab.restartScheduler();
    await vi.waitFor(() => call(d.api, "GET", "/v1/status", StatusResponse), { timeout: 60_000, interval: 500 });

    const ends = new Map<string, ApiMigration>();
    for (const m of [running, sent, queued]) ends.set(m.vm, await waitMigrationDone(d.api, m.id, 300_000));
    const where = await eachGuestOnOneHostTicking(d, guests);
    for (const [vm, m] of ends) {
      // The record is the truth (where the guest's QEMU runs): moved with its measured duration, or
      // still on its source with the cause (libvirt's own outcome, e.g. the agent's escalation).
      if (where.get(vm) === m.destination) {
        expect(m.state, JSON.stringify(m)).toBe("succeeded");
        expect(m.measuredDurationMs, JSON.stringify(m)).not.toBeNull();
      } else {
        expect(where.get(vm), JSON.stringify(m)).toBe(m.source);
        expect(["failed", "aborted"], JSON.stringify(m)).toContain(m.state);
        expect(m.error, JSON.stringify(m)).not.toBeNull();
      }
    }
    // The running move (vm1) was followed to its end, never aborted by the scheduler. The
    // unanswered one (vm3) had reached h3's agent: it ran once, found by its command id. The queued
    // one (vm2) had sent nothing: it started once after the restart.
    expect(await agentLogLines(d, "h1", '"kind":"abort"', '"command received"')).toHaveLength(0);

    // One move per guest, one outcome each, every command received once, by its source only.
    const all = await migrations(d.api);
    expect(all.map((x) => x.vm).sort()).toEqual(guests);
    for (const m of ends.values()) expect(await commandReceipts(d, m.commandId), m.vm).toEqual({ [m.source]: 1 });
    const hist = (await call(d.api, "GET", "/v1/history?limit=200", HistoryResponse)).entries;
    for (const m of ends.values()) expect(hist.filter((e) => e.kind === "migration" && e.id === m.id)).toHaveLength(1);

    await waitPlannable(d);
    const moved = [...ends.values()].find((m) => m.state === "succeeded")!;
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: moved.vm, host: moved.source });
    expect((await waitMigrationDone(d.api, back.id, 300_000)).state).toBe("succeeded");
    console.log(
      `fault case 4: ${[...ends.values()].map((m) => `${m.vm} ${m.state}`).join(", ")}; all ended ${((Math.max(...[...ends.values()].map((m) => m.endedAtMs ?? 0)) - t0) / 1000).toFixed(1)} s after the kill`,
    );
  });
});
