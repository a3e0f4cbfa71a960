// The scheduler is SIGKILLed (by pid) in the middle of a drain and started again: the drain
// completes, no VM is migrated twice, and the history shows every step.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMaintenance, HistoryResponse, StatusResponse } from "@drover/protocol";
import { call, http } from "./helpers/api.js";
import { migrations, waitReady, ticksMoved } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;
const guests = ["vm1", "vm2", "vm3"];

beforeAll(async () => {
  d = await DroverLab.start({
    net: 33,
    hosts: 3,
    guests: guests.map((name) => ({ name, host: "h1", memoryMiB: 128 })),
    // One migration at a time off h1, so the kill lands with work both running and still to do.
    scheduler: { policies: { balance: { mode: "off" } }, limits: { perSource: 1 } },
  });
  await waitReady(d.api, 3, guests);
});

afterAll(async () => {
  await d?.stop();
});

describe("scheduler killed mid-drain", () => {
  it("finishes the drain after a restart without migrating any VM twice", async () => {
    const before = new Map<string, number>();
    for (const g of guests) before.set(g, (await d.ticks(g)).last);
    const m0 = await call(d.api, "POST", "/v1/hosts/h1/drain", ApiMaintenance, { powerOff: false });

    await vi.waitFor(
      async () => {
        const ms = await migrations(d.api);
        if (!ms.some((m) => m.state === "running" || m.state === "preflight")) {
          throw new Error(`waiting for a drain migration to be running: ${ms.map((m) => `${m.vm} ${m.state}`).join(", ")}`);
        }
      },
      { timeout: 120_000, interval: 250 },
    );
    const pid = d.lab.scheduler?.pid;
    expect(pid).toBeTypeOf("number");
    process.kill(pid as number, "SIGKILL");
    await expect.poll(() => d.lab.scheduler?.running, { timeout: 30_000, interval: 100, message: "the scheduler to be gone" }).toBeFalsy();
    expect((await http(d.api, "GET", "/v1/status").catch(() => null))?.status).toBeUndefined();

    await d.lab.restartScheduler();
    await vi.waitFor(
      () =>
        call(d.api, "GET", "/v1/status", StatusResponse).catch((e: unknown) =>
          Promise.reject(new Error(`waiting for the API after the restart: ${String(e)}`)),
        ),
      { timeout: 60_000, interval: 1000 },
    );
    const m = await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/maintenance/${m0.id}`, ApiMaintenance);
        if (x.state !== "in-maintenance") throw new Error(`waiting for the drain to finish: ${x.state}, ${x.vmsLeft} VMs left`);
        return x;
      },
      { timeout: 300_000, interval: 1000 },
    );
    expect(m.vmsLeft).toBe(0);

    const all = await migrations(d.api);
    const succeeded = all.filter((x) => x.state === "succeeded");
    expect(succeeded.map((x) => x.vm).sort(), JSON.stringify(all.map((x) => [x.vm, x.state, x.source, x.destination]))).toEqual(guests);
    // Nothing ran twice: no second migration of a VM got to run, and every command id is unique.
    for (const g of guests) {
      const ran = all.filter((x) => x.vm === g && x.startedAtMs !== null && x.state !== "cancelled");
      expect(ran.length, JSON.stringify(ran)).toBe(1);
    }
    expect(new Set(all.map((x) => x.commandId)).size).toBe(all.length);
    for (const g of guests) {
      await ticksMoved(d, g, "h1", before.get(g) ?? 0);
    }

    const hist = (await call(d.api, "GET", "/v1/history?limit=500", HistoryResponse)).entries;
    expect(hist.some((e) => e.kind === "maintenance" && e.id === m0.id)).toBe(true);
    for (const x of succeeded)
      expect(
        hist.some((e) => e.kind === "migration" && e.id === x.id),
        `history lacks ${x.id}`,
      ).toBe(true);
    expect(hist.some((e) => e.kind === "plan")).toBe(true);
  });
});
