import { describe, expect, it } from "vitest";
import { harness } from "./harness.js";
import { uuid } from "./helpers.js";

const vmsOn = (prefix: string, n: number, start: number) =>
  Array.from({ length: n }, (_, i) => ({ uuid: uuid(start + i), name: `${prefix}${i}` }));

describe("dispatcher", () => {
  it("never exceeds the per-source, per-destination and cluster limits", async () => {
    await using h = await harness(
      ["a", "b", "c", "d"],
      { a: vmsOn("a", 3, 1), b: vmsOn("b", 3, 10) },
      { limits: { perSource: 1, perDestination: 1, perCluster: 2 } },
    );
    h.agents.behaviour = { migrate: "hold", preflightOk: true };
    await h.report();
    const moves = [
      ["a0", "c"],
      ["a1", "d"],
      ["b0", "c"],
      ["b1", "d"],
      ["a2", "c"],
    ] as const;
    const ids = moves.map(([vm, host]) => h.s.dispatcher.submit({ vm, destination: host, requestedBy: "test", reason: "limits" }).id);
    await expect.poll(() => h.agents.held.size === 2, { timeout: 15_000, interval: 20, message: "two held migrations" }).toBe(true);
    // Let anything else that would wrongly start do so.
    await new Promise((r) => setTimeout(r, 200));
    expect(h.s.dispatcher.inFlightCount).toBe(2);
    const running = [...h.agents.held.values()];
    expect(new Set(running.map((c) => h.agents.vms.get(c.vm)!.host)).size).toBe(2);
    expect(new Set(running.map((c) => c.destination.host)).size).toBe(2);
    let maxSeen = 0;
    while (h.agents.held.size > 0 || h.s.dispatcher.queuedCount > 0) {
      maxSeen = Math.max(maxSeen, h.agents.held.size);
      h.agents.releaseAll(true);
      await expect
        .poll(() => h.agents.held.size > 0 || (h.s.dispatcher.queuedCount === 0 && h.s.dispatcher.inFlightCount === 0), {
          timeout: 15_000,
          interval: 20,
          message: "next admitted",
        })
        .toBe(true);
    }
    expect(maxSeen).toBeLessThanOrEqual(2);
    for (const id of ids) expect(h.s.store.migrations.get(id)!.status).toBe("succeeded");
    expect(h.agents.count("migrate")).toBe(5);
  });

  it("a failed move is recorded with its cause, leaves the VM where it was and is not retried within the cool-down", async () => {
    await using h = await harness(["a", "b"], { a: vmsOn("v", 1, 1) });
    h.agents.behaviour = { migrate: "fail", durationMs: 10 };
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "fail" });
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status === "failed", { timeout: 15_000, interval: 20, message: "failure" })
      .toBe(true);
    const row = h.s.store.migrations.get(m.id)!;
    expect(row.error).toEqual({ code: "migration-failed", message: "destination refused the incoming migration" });
    expect(h.s.state.vm("v0")!.host).toBe("a");
    expect(() => h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "again" })).toThrow(/cool-down/);
    h.clock.advance(h.s.config.cooldowns.failureMs + 1);
    await h.report();
    h.agents.behaviour = { migrate: "succeed", durationMs: 10 };
    const again = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "after cool-down" });
    await expect
      .poll(() => h.s.store.migrations.get(again.id)!.status === "succeeded", { timeout: 15_000, interval: 20, message: "success" })
      .toBe(true);
  });

  it("a failing preflight stops the move before any migrate command, naming the check", async () => {
    await using h = await harness(["a", "b"], { a: vmsOn("v", 1, 1) });
    h.agents.behaviour = { migrate: "succeed", preflightOk: false };
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "pf" });
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status === "failed", { timeout: 15_000, interval: 20, message: "preflight failure" })
      .toBe(true);
    expect(h.s.store.migrations.get(m.id)!.error?.code).toBe("preflight.shared-storage");
    expect(h.agents.count("migrate")).toBe(0);
  });

  it("refuses an unreachable host as source or destination", async () => {
    await using h = await harness(["a", "b"], { a: vmsOn("v", 1, 1) });
    await h.report();
    h.clock.advance(3001);
    await h.report(["a"]);
    expect(() => h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "x" })).toThrow(
      /destination b is unreachable/,
    );
  });

  it("a restart mid-flight asks the agent by status and never sends the move twice", async () => {
    await using h = await harness(["a", "b"], { a: vmsOn("v", 2, 1) });
    h.agents.behaviour = { migrate: "hold" };
    h.autoReport();
    await h.report();
    const m1 = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "restart" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "held" }).toBe(true);
    await expect
      .poll(() => h.s.store.migrations.get(m1.id)!.status === "running", { timeout: 15_000, interval: 20, message: "running" })
      .toBe(true);
    await h.restart();
    // The agent still runs it: the new scheduler follows it.
    expect(h.agents.count("status")).toBeGreaterThanOrEqual(1);
    expect(h.s.dispatcher.isActive(m1.id)).toBe(true);
    h.agents.releaseAll(true);
    await expect
      .poll(() => h.s.store.migrations.get(m1.id)!.status === "succeeded", {
        timeout: 15_000,
        interval: 20,
        message: "succeeded after restart",
      })
      .toBe(true);
    expect(h.agents.count("migrate", m1.commandId)).toBe(1);
    await h.report();

    // A second move whose result is lost while the scheduler is down.
    const m2 = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "test", reason: "restart 2" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "held 2" }).toBe(true);
    await h.s.shutdown();
    h.agents.releaseAll(true);
    await h.restart();
    await h.report();
    expect(h.s.store.migrations.get(m2.id)!.status).toBe("succeeded");
    expect(h.s.state.vm("v1")!.host).toBe("b");
    expect(h.agents.count("migrate", m2.commandId)).toBe(1);
    expect(h.agents.count("migrate")).toBe(2);
  });

  it("a move queued but never sent is sent once after a restart", async () => {
    await using h = await harness(["a", "b", "c"], { a: vmsOn("v", 2, 1) }, { limits: { perSource: 1, perDestination: 2, perCluster: 2 } });
    h.agents.behaviour = { migrate: "hold" };
    h.autoReport();
    await h.report();
    const m1 = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "first" });
    const m2 = h.s.dispatcher.submit({ vm: "v1", destination: "c", requestedBy: "test", reason: "queued" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "held" }).toBe(true);
    expect(h.s.store.migrations.get(m2.id)!.status).toBe("pending");
    await h.restart();
    expect(h.s.dispatcher.isActive(m2.id)).toBe(true);
    h.agents.releaseAll(true);
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "second started" }).toBe(true);
    h.agents.releaseAll(true);
    await expect
      .poll(() => h.s.store.migrations.get(m2.id)!.status === "succeeded", { timeout: 15_000, interval: 20, message: "second done" })
      .toBe(true);
    expect(h.agents.count("migrate", m1.commandId)).toBe(1);
    expect(h.agents.count("migrate", m2.commandId)).toBe(1);
  });

  it("an agent that forgot the command (restarted without its state): the reports settle the move, never a failure when the VM moved", async () => {
    await using h = await harness(["a", "b"], { a: vmsOn("v", 2, 1) });
    h.agents.behaviour = { migrate: "hold" };
    await h.report();
    const moved = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "moved" });
    const stayed = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "test", reason: "stayed" });
    await expect
      .poll(() => [moved, stayed].every((m) => h.s.store.migrations.get(m.id)!.status === "running"), {
        timeout: 15_000,
        interval: 20,
        message: "running",
      })
      .toBe(true);
    // libvirt finished v0's move while the agent was down; v1's never happened.
    h.agents.place(
      "b",
      [...h.agents.vms.values()].find((v) => v.name === "v0")!,
    );
    h.agents.forgetAll();
    h.clock.advance(10_000);
    await h.report();
    await h.s.tick();
    const m0 = h.s.store.migrations.get(moved.id)!;
    expect([m0.status, m0.error]).toEqual(["succeeded", null]);
    // No result message: the duration is the record's (start to the end seen here), the rest unknown.
    expect(m0.measuredDurationMs).toBe(m0.endedMs! - m0.startedMs!);
    expect(m0.measuredDurationMs).toBeGreaterThanOrEqual(10_000);
    expect([m0.measuredDowntimeMs, m0.completedBy]).toEqual([null, "unknown"]);
    expect(h.s.store.history({ kinds: ["migration"] }).find((e) => e.id === moved.id)?.summary).toMatch(/in \d+\.\d s, downtime unknown/);
    const m1 = h.s.store.migrations.get(stayed.id)!;
    expect(m1.status).toBe("failed");
    expect(m1.error).toMatchObject({ code: "agent.unknown-command" });
    expect(m1.error?.message).toMatch(/reported on a/);
    expect(h.agents.count("migrate")).toBe(2);
  });

  it("a source whose agent went silent mid-move: the VM running on the destination settles it; a copy that is paused or may be in post-copy waits", async () => {
    await using h = await harness(
      ["a", "b"],
      { a: [...vmsOn("v", 2, 1), { uuid: uuid(3), name: "pc", tags: ["drover:post-copy"] }] },
      { migration: { allowPostCopy: true }, limits: { perSource: 3, perDestination: 3 } },
    );
    h.agents.behaviour = { migrate: "hold" };
    await h.report();
    const moves = ["v0", "v1", "pc"].map((vm) =>
      h.s.dispatcher.submit({ vm, destination: "b", requestedBy: "test", reason: "silent source" }),
    );
    await expect
      .poll(() => moves.every((m) => h.s.store.migrations.get(m.id)!.status === "running"), {
        timeout: 15_000,
        interval: 20,
        message: "running",
      })
      .toBe(true);
    // a's agent dies; libvirt carries on: v0 and pc run on b, v1's copy there is still paused.
    h.agents.up.delete("a");
    const at = (name: string) => [...h.agents.vms.values()].find((v) => v.name === name)!;
    h.agents.place("b", at("v0"));
    h.agents.place("b", { ...at("v1"), state: "paused" });
    h.agents.place("b", at("pc"));
    h.clock.advance(10_000);
    await h.report();
    await h.s.tick();
    const [v0, v1, pc] = moves.map((m) => h.s.store.migrations.get(m.id)!);
    expect([v0!.status, v0!.error, v0!.completedBy, v0!.measuredDowntimeMs]).toEqual(["succeeded", null, "unknown", null]);
    expect(v1!.status).toBe("running");
    expect(pc!.status).toBe("running");
    // Asked once per quiet period, not on every tick.
    const asks = h.agents.count("status");
    await h.s.tick();
    h.clock.advance(1000);
    await h.s.tick();
    expect(h.agents.count("status")).toBe(asks);
  });

  it("a move past its timeout is aborted, then recorded as timed-out with where the VM is", async () => {
    await using h = await harness(
      ["a", "b"],
      { a: vmsOn("v", 1, 1) },
      { migration: { timeoutMs: 10_000, resultGraceMs: 1000, commandTimeoutMs: 2000 } },
    );
    h.agents.behaviour = { migrate: "hold" };
    h.autoReport();
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "timeout" });
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status === "running", { timeout: 15_000, interval: 20, message: "running" })
      .toBe(true);
    h.clock.advance(11_001);
    await h.s.tick();
    expect(h.agents.count("abort")).toBe(1);
    expect(h.s.dispatcher.isActive(m.id)).toBe(true);
    h.clock.advance(1001);
    await h.s.tick();
    const row = h.s.store.migrations.get(m.id)!;
    expect(row.status).toBe("timed-out");
    expect(row.error?.message).toMatch(/VM reported on a/);
    expect(h.agents.count("migrate")).toBe(1);
  });
});
