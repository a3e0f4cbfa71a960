// Migration results come through the JetStream stream: one published while the scheduler was down
// or cut off from NATS is recorded when it reads again, once, with the agent's measurements.
import { describe, expect, it, vi } from "vitest";
import { MigrationResult, subjects } from "@drover/protocol";
import { migrationResult } from "@drover/protocol/testing";
import { FollowUp } from "../src/migrations/follow-up.js";
import { harness } from "./harness.js";
import { CLUSTER, uuid } from "./helpers.js";

const vms = [{ uuid: uuid(1), name: "v0" }];

describe("migration results from the stream", () => {
  it("a result published while the scheduler was down is recorded after its restart, with its measurements, once", async () => {
    await using h = await harness(["a", "b"], { a: vms });
    h.agents.behaviour = { migrate: "hold", measured: { durationMs: 4321, downtimeMs: 7 } };
    h.autoReport();
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "stream" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000 }).toBe("running");
    await h.s.shutdown();
    h.agents.releaseAll(true); // the result goes out while no scheduler reads
    await h.agents.bus.flush();
    const accepted = vi.spyOn(FollowUp.prototype, "acceptResult");
    await h.restart();
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000 }).toBe("succeeded");
    // Only the result carries these: a status answer could not have given them.
    await expect.poll(() => h.s.store.migrations.get(m.id)!.measuredDurationMs, { timeout: 15_000 }).toBe(4321);
    const recorded = h.s.store.migrations.get(m.id)!;
    expect(recorded.measuredDowntimeMs).toBe(7);

    // The same result again (an agent's retry after a lost ack, beyond the duplicate window): no second outcome.
    const before = accepted.mock.calls.length;
    h.agents.bus.publish(
      subjects.migrationResult(CLUSTER, "a", m.id),
      MigrationResult,
      migrationResult({
        migrationId: m.id,
        commandId: m.commandId,
        vmUuid: uuid(1),
        source: "a",
        destination: "b",
        outcome: "failed",
        durationMs: 1,
      }),
    );
    await expect.poll(() => accepted.mock.calls.length, { timeout: 15_000 }).toBeGreaterThan(before);
    expect(h.s.store.migrations.get(m.id)).toEqual(recorded);
    expect(h.s.store.migrations.list().filter((x) => x.vmUuid === uuid(1))).toHaveLength(1);
    expect(h.agents.count("migrate", m.commandId)).toBe(1);
    accepted.mockRestore();
  });

  it("a scheduler cut off from NATS past a move's deadline does not time it out; the result waiting in the stream settles it", async () => {
    await using h = await harness(["a", "b"], { a: vms }, { migration: { timeoutMs: 60_000, resultGraceMs: 10_000 } });
    h.agents.behaviour = { migrate: "hold", measured: { durationMs: 999, downtimeMs: 3 } };
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "cut off" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000 }).toBe("running");

    await h.nats.stopProcess();
    await expect.poll(() => h.s.bus.isConnected, { timeout: 15_000 }).toBe(false);
    // Longer than the move's deadline passes while nothing can be heard.
    // (Were it judged, the first tick would abort it and the second, past the grace, record it timed out.)
    h.clock.advance(120_000);
    await h.s.dispatcher.tick();
    h.clock.advance(30_000);
    await h.s.dispatcher.tick();
    expect(h.s.store.migrations.get(m.id)!.status).toBe("running");
    expect(h.agents.count("abort")).toBe(0);

    await h.nats.restart();
    await expect.poll(() => h.s.bus.isConnected && h.agents.bus.isConnected, { timeout: 15_000 }).toBe(true);
    h.agents.releaseAll(true);
    await h.agents.bus.flush();
    await h.s.dispatcher.tick();
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000 }).toBe("succeeded");
    expect(h.s.store.migrations.get(m.id)!.measuredDurationMs).toBe(999);
    expect(h.agents.count("abort")).toBe(0);
  });
});
