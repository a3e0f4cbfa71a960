// A plan's power-off runs after the plan's moves off that host, but only once both hosts' reports show
// those moves: until then the host still counts as having a move, and the power guard would refuse it.
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { harness } from "./harness.js";
import { uuid } from "./helpers.js";

describe("plan power-off after its moves", () => {
  it("waits for the moves to show in the reports, then powers off; never refused as in flight", async () => {
    const udp = createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    const power = (n: number) => ({
      power: { wake: "wol" as const, mac: `02:00:00:00:00:0${n}`, address: "127.0.0.1", port: udp.address().port },
    });
    try {
      await using h = await harness(
        ["a", "b", "c"],
        { a: [{ uuid: uuid(1), name: "v1" }], b: [{ uuid: uuid(2), name: "v2" }], c: [{ uuid: uuid(3), name: "v3" }] },
        { policies: { balance: { mode: "off" } }, hosts: { a: power(1), b: power(2), c: power(3) } },
      );
      await h.report();
      const plan = h.s.planner.make("consolidate", { requestedBy: "test", mode: "manual" });
      const offs = plan.steps.filter((s) => s.action === "power-off");
      expect(offs.length).toBeGreaterThan(0);
      // Moves end (the fake agents finish them at once), but no host has reported since.
      await expect
        .poll(() => h.s.store.migrations.list({ limit: 10 }).filter((m) => m.status === "succeeded").length, {
          timeout: 15_000,
          interval: 20,
          message: "the plan's moves succeeded",
        })
        .toBe(plan.steps.filter((s) => s.action === "migrate").length);
      await h.s.tick();
      expect(h.agents.count("power-off")).toBe(0);
      expect(
        h.s.store.plans
          .get(plan.id)!
          .steps.filter((s) => s.action === "power-off")
          .map((s) => s.status),
      ).toEqual(offs.map(() => "pending"));
      // The reports now show where the VMs went: the power-offs run, and none was refused.
      await h.report();
      await h.s.tick();
      await expect.poll(() => h.agents.count("power-off"), { timeout: 15_000, interval: 20, message: "power-offs sent" }).toBe(offs.length);
      expect(h.s.store.power.list({ limit: 10 }).filter((p) => p.status === "cancelled")).toEqual([]);
    } finally {
      udp.close();
    }
  });
});
