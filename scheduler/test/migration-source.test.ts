// A host speaks only for the moves it runs: progress and results of a move that come from any host
// but its source are dropped and counted, and the move still ends from its source's result.
import { describe, expect, it } from "vitest";
import { MigrationProgress, MigrationResult, subjects } from "@drover/protocol";
import { migrationProgress, migrationResult } from "@drover/protocol/testing";
import { harness } from "./harness.js";
import { CLUSTER, uuid } from "./helpers.js";

describe("migration messages from a host that is not the move's source", () => {
  it("are ignored and counted; the move completes from the real source's result", async () => {
    await using h = await harness(["a", "b", "c"], { a: [{ uuid: uuid(1), name: "v0" }] });
    h.agents.behaviour = { migrate: "hold" };
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "source check" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "held" }).toBe(true);
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status === "running", { timeout: 15_000, interval: 20, message: "running" })
      .toBe(true);
    const cmd = [...h.agents.held.values()][0]!;
    const claims = { migrationId: m.id, commandId: cmd.id, vm: "v0", vmUuid: uuid(1), source: "a", destination: "b" };
    // The destination and a bystander, each on its own subjects, claim the move failed (or ran elsewhere).
    for (const forger of ["b", "c"]) {
      h.agents.bus.publish(
        subjects.migrationProgress(CLUSTER, forger, m.id),
        MigrationProgress,
        migrationProgress({ ...claims, timeMs: Date.now(), iteration: 9 }),
      );
      h.agents.bus.publish(
        subjects.migrationResult(CLUSTER, forger, m.id),
        MigrationResult,
        migrationResult({
          ...claims,
          outcome: "failed",
          completedBy: null,
          downtimeMs: null,
          vmRunningOn: "c",
          error: { code: "forged", message: "not from the source" },
        }),
      );
    }
    const rejected = async () =>
      (await h.s.metrics.migrationMessagesRejected.get()).values.find((v) => v.labels.reason === "wrong-host")?.value;
    await expect.poll(rejected, { timeout: 15_000, interval: 20, message: "four wrong-host drops" }).toBe(4);
    expect(h.s.store.migrations.get(m.id)!.status).toBe("running");
    expect(h.s.dispatcher.isActive(m.id)).toBe(true);
    expect(h.s.state.vm("v0")!.host).toBe("a");
    expect(h.s.dispatcher.progressOf(m.id)).toBeNull();

    h.agents.releaseAll(true);
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20, message: "the source's result" })
      .toBe("succeeded");
    const row = h.s.store.migrations.get(m.id)!;
    expect(row.error).toBeNull();
    expect(h.s.state.vm("v0")!.host).toBe("b");
    expect(await rejected()).toBe(4);
  });
});
