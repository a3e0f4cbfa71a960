// Fault case 5 (issue 11): nats-server goes down in the middle of a drain and comes back. The move
// under way ends while NATS is down, so its result is published with no server to take it: the
// agent keeps it (journal) and stores it in the results stream once NATS is back, and the
// scheduler, which must not time the move out meanwhile, records it once with its measurements.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMaintenance, ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { migrations, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import type { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, eachGuestOnOneHostTicking, twoHostFaultLab, waitPlannable } from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];

beforeAll(async () => {
  d = await twoHostFaultLab({ net: 47, failureCooldownMs: 5000 });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

describe("nats-server down and restarted during a drain", () => {
  it("the drain completes; the result published while NATS was down is recorded once with its measurements", async () => {
    const t0 = Date.now();
    const drain = await call(d.api, "POST", "/v1/hosts/h1/drain", ApiMaintenance, { powerOff: false });
    const first = await vi.waitFor(
      async () => {
        const x = (await migrations(d.api)).find((m) => m.state === "running" && (m.progress?.fraction ?? 0) >= 0.1);
        if (!x) throw new Error("waiting for a drain move at 10 %");
        return x;
      },
      { timeout: 120_000, interval: 100 },
    );

    await d.lab.kill("nats");
    const downAt = Date.now();
    // Down until the move has ended on the agent and its result could not be stored.
    await vi.waitFor(
      async () => {
        if ((await agentLogLines(d, "h1", first.id, "migration result not stored yet")).length === 0)
          throw new Error(`waiting for ${first.id} to end on h1 while NATS is down`);
      },
      { timeout: 180_000, interval: 500 },
    );
    await d.lab.restart("nats");
    const backAt = Date.now();

    const done = await waitMigrationDone(d.api, first.id, 120_000);
    const m = await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/maintenance/${drain.id}`, ApiMaintenance);
        if (x.state !== "in-maintenance") throw new Error(`waiting for the drain to finish: ${x.state}, ${x.vmsLeft} VMs left`);
        return x;
      },
      { timeout: 300_000, interval: 1000 },
    );
    expect(m.vmsLeft).toBe(0);

    // The move that ended while NATS was down: one outcome, the agent's, with what it measured.
    expect(done.state, JSON.stringify(done)).toBe("succeeded");
    expect(done.error).toBeNull();
    expect(done.vmRunningOn).toBe("h2");
    expect(done.measuredDurationMs, JSON.stringify(done)).not.toBeNull();
    // The agent owed it across the outage and the stream took it once it was back.
    expect((await agentLogLines(d, "h1", first.id, "migration result stored")).length).toBe(1);

    // Every move has one outcome with its cause and what was measured; each guest's last move
    // succeeded (one that failed for another reason was tried again as a new move, never resent).
    const all = await migrations(d.api);
    for (const x of all.filter((y) => y.startedAtMs !== null)) {
      expect(["succeeded", "failed", "aborted"], JSON.stringify(x)).toContain(x.state);
      expect(x.error === null, JSON.stringify(x)).toBe(x.state === "succeeded");
      expect(x.measuredDurationMs, `${x.id} measured`).not.toBeNull();
    }
    for (const g of ["vm1"]) {
      const ran = all.filter((x) => x.vm === g && x.startedAtMs !== null && x.state !== "cancelled");
      // Newest first, as the API lists them.
      expect(ran[0]?.state, `${g}: ${JSON.stringify(ran)}`).toBe("succeeded");
    }
    expect(new Set(all.map((x) => x.commandId)).size).toBe(all.length);
    for (const x of all) {
      const received = await agentLogLines(d, "h1", `"${x.commandId}"`, '"command received"');
      // Sent at most once; a move that ran was sent exactly once.
      expect(received.length, `${x.id} ${x.state}: ${x.commandId} received`).toBe(
        x.startedAtMs === null ? Math.min(received.length, 1) : 1,
      );
    }
    expect(await agentLogLines(d, "h1", '"kind":"abort"', '"command received"')).toHaveLength(0);

    // Every guest runs on exactly one host (h2) and keeps ticking.
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, guests))).toEqual({ vm1: "h2", vm2: "h2" });

    // Plannable again: h1 back from maintenance, both hosts healthy, nothing in flight, and a move is
    // admitted and runs to its end.
    await call(d.api, "POST", `/v1/hosts/h1/undrain`, ApiMaintenance, {});
    await waitPlannable(d);
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h1" });
    expect((await waitMigrationDone(d.api, back.id, 180_000)).state).toBe("succeeded");
    console.log(
      `fault case 5: NATS down ${((backAt - downAt) / 1000).toFixed(1)} s; ${first.vm}'s move ${done.state} (measured ${done.measuredDurationMs} ms); drain done after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  }, 600_000); // two moves at 4 MiB/s, the outage, a retried move if the machine is loaded, and a move back
});
