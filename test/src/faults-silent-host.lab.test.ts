// Fault case 7 (issue 11): the only destination of a drain stops reporting mid-drain (its agent
// killed, its libvirtd alive). Once the scheduler sees it silent, no VM is sent onto it: the
// queued move is cancelled unsent and the drain blocks, naming the silent host as the reason (API
// and `drover drain --wait`'s view). When the agent is back, the drain resumes and completes; every
// guest runs once and ticks, each move has one outcome, and no command went out twice.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMaintenance, ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { hosts, migrations, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, eachGuestOnOneHostTicking, waitPlannable, waitProgress } from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];

beforeAll(async () => {
  d = await DroverLab.start({
    net: 42,
    hosts: 2,
    guests: [
      // Random data dirtied under a bandwidth cap: the first move lasts while h2 falls silent.
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } },
      // Idle: the lab's default workload rewrites 8 MiB/s, more than the cap copies, and its move
      // would run the escalation ladder before it could end.
      { name: "vm2", host: "h1", memoryMiB: 96, workload: { dirtyMb: 0 } },
    ],
    scheduler: {
      policies: { balance: { mode: "off" } },
      // One move off h1 at a time: the second waits queued while the first runs.
      limits: { perSource: 1 },
      // A generous downtime: under the cap, even an idle guest's last pass must fit in it on a loaded machine.
      migration: {
        bandwidthMiBs: 4,
        maxDowntimeMs: 2000,
        escalation: [{ action: "raise-downtime", toMs: 5000 }, { action: "auto-converge" }, { action: "abort" }],
      },
      cooldowns: { vmMs: 1000, returnMs: 1000, failureMs: 5000 },
    },
  });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

const maintenance = (id: string) => call(d.api, "GET", `/v1/maintenance/${id}`, ApiMaintenance);

describe("the drain's destination stops reporting mid-drain (agent killed, libvirtd alive)", () => {
  it("sends nothing onto it, blocks naming it, and completes once it reports again", async () => {
    const m = await call(d.api, "POST", "/v1/hosts/h1/drain", ApiMaintenance, {});
    const first = await vi.waitFor(
      async () => {
        const running = (await migrations(d.api)).filter((x) => x.state === "running");
        if (running.length !== 1) throw new Error(`waiting for the drain's first move to run: ${running.length} running`);
        return running[0]!;
      },
      { timeout: 60_000, interval: 250 },
    );
    await waitProgress(d, first.id, 0.2);
    await d.lab.kill("agent", "h2");
    await vi.waitFor(
      async () => {
        const h2 = (await hosts(d.api)).find((h) => h.id === "h2");
        if (h2?.state !== "unreachable") throw new Error(`waiting for h2 to be seen silent: ${h2?.state}`);
      },
      { timeout: 60_000, interval: 250 },
    );
    const silentAt = Date.now();
    // The precondition of what follows: h2 was seen silent while the first move still ran.
    expect((await call(d.api, "GET", `/v1/migrations/${first.id}`, ApiMigration)).state).toBe("running");

    const blocked = await vi.waitFor(
      async () => {
        const x = await maintenance(m.id);
        if (x.state !== "blocked") throw new Error(`waiting for the drain to block: ${x.state} (${x.message})`);
        return x;
      },
      { timeout: 180_000, interval: 500 },
    );
    expect(blocked.message).toMatch(/not reporting, so no destination: h2/);
    expect(blocked.blockers.length).toBeGreaterThan(0);
    for (const b of blocked.blockers) expect(b.reason).toMatch(/not reporting, so no destination: h2/);
    // Nothing was sent onto h2 once it fell silent: every move towards it created later does not
    // exist, and the one queued before was cancelled unsent.
    const whileSilent = await migrations(d.api);
    expect(whileSilent.filter((x) => x.destination === "h2" && x.createdAtMs > silentAt)).toEqual([]);
    for (const x of whileSilent.filter((y) => y.id !== first.id)) {
      expect(x.state, JSON.stringify(x)).toBe("cancelled");
      expect(await agentLogLines(d, "h1", `"${x.commandId}"`)).toEqual([]);
    }

    await d.lab.restart("agent", "h2");
    const done = await vi.waitFor(
      async () => {
        const x = await maintenance(m.id);
        if (x.state !== "in-maintenance") {
          const ms = (await migrations(d.api)).map((y) => `${y.vm}->${y.destination} ${y.state} ${y.error?.code ?? ""}`);
          throw new Error(`waiting for the drain to resume and end: ${x.state} (${x.message}); moves: ${ms.join(", ")}`);
        }
        return x;
      },
      { timeout: 240_000, interval: 1000 },
    );
    expect(done.vmsLeft).toBe(0);
    const where = await eachGuestOnOneHostTicking(d, guests);
    expect(Object.fromEntries(where)).toEqual({ vm1: "h2", vm2: "h2" });

    // Each move one outcome; each command sent once (by the source's agent log).
    const all = await migrations(d.api);
    for (const g of guests)
      expect(
        all.filter((x) => x.vm === g && x.state === "succeeded"),
        g,
      ).toHaveLength(1);
    for (const x of all.filter((y) => y.state === "succeeded"))
      expect(await agentLogLines(d, "h1", `"${x.commandId}"`, '"command received"')).toHaveLength(1);
    await vi.waitFor(async () => expect((await hosts(d.api)).find((h) => h.id === "h1")?.state).toBe("maintenance"), { timeout: 30_000 });
    await call(d.api, "POST", "/v1/hosts/h1/undrain", ApiMaintenance);
    await waitPlannable(d);
  });
});
