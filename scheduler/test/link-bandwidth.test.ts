import { describe, expect, it } from "vitest";
import { LinkBandwidth } from "../src/prediction.js";
import { planningSnapshot } from "../src/snapshot.js";
import { harness } from "./harness.js";
import { uuid } from "./helpers.js";

const MB = 1_000_000;

describe("link bandwidth learned from completed migrations", () => {
  it("per host pair, either direction, the median of its moves; a shared move counts its share times the sharers", () => {
    const l = new LinkBandwidth(3);
    expect(l.of("a", "b")).toBeUndefined();
    expect(l.observe({ source: "a", destination: "b", bytesMoved: 100 * MB, durationMs: 2000, concurrent: 1 })).toBe(50 * MB);
    l.observe({ source: "b", destination: "a", bytesMoved: 100 * MB, durationMs: 1000, concurrent: 1 });
    expect(l.of("a", "b")).toBe(75 * MB);
    // Two moves shared the link: each saw half of it.
    expect(l.observe({ source: "a", destination: "b", bytesMoved: 30 * MB, durationMs: 1000, concurrent: 2 })).toBe(60 * MB);
    expect(l.of("b", "a")).toBe(60 * MB);
    expect(l.of("a", "c")).toBeUndefined();
    expect(l.observe({ source: "a", destination: "c", bytesMoved: 0, durationMs: 1000, concurrent: 1 })).toBeNull();
    expect(l.observe({ source: "a", destination: "c", bytesMoved: 5, durationMs: null, concurrent: 1 })).toBeNull();
  });

  it("predicts a pair's moves on its measured bandwidth, others on the configured speed; kept across a restart", async () => {
    const vms = Array.from({ length: 4 }, (_, i) => ({ uuid: uuid(i + 1), name: `v${i}`, memoryMiB: 1024 }));
    await using h = await harness(
      ["a", "b", "c"],
      { a: vms },
      {
        cooldowns: { vmMs: 0, failureMs: 0, returnMs: 0 },
        // Only the link is learned here: the fitted constants would change every prediction.
        migration: { calibration: { enabled: false } },
      },
    );
    // Every move measured: 1 GiB in 40 s, about 27 MB/s.
    h.agents.behaviour = {
      migrate: "succeed",
      durationMs: 1,
      measured: { durationMs: 40_000, downtimeMs: 5, bytesMoved: 1024 * 1024 * 1024 },
    };
    const predicted = (vm: string, to: string) => h.s.dispatcher.submit({ vm, destination: to, requestedBy: "t", reason: "predict" });
    await h.report();
    // The configured link speed (125 MB/s) before anything was measured.
    const before = predicted("v0", "b");
    await expect.poll(() => h.s.store.migrations.get(before.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    // A second measured move a -> b.
    const measured = predicted("v1", "b");
    await expect.poll(() => h.s.store.migrations.get(measured.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    await h.report();
    // The planner's model has one bandwidth per host: a and b get the measured link, c none (the configured speed).
    const snap = planningSnapshot({ state: h.s.state, config: h.s.config, store: h.s.store, moves: h.s.dispatcher }, h.clock.now());
    const bw = (id: string) => snap.hosts.find((x) => x.id === id)?.migrationBandwidthBytesPerSec;
    expect(bw("a")).toBeGreaterThan(0);
    expect(bw("a")).toBe(bw("b"));
    expect(bw("a")!).toBeLessThan(125_000_000);
    expect(bw("c")).toBeUndefined();

    const onB = predicted("v2", "b");
    const onC = predicted("v3", "c");
    expect(onC.predictedDurationMs).toBe(before.predictedDurationMs);
    expect(onB.predictedDurationMs!).toBeGreaterThan(3 * onC.predictedDurationMs!);
    await expect.poll(() => h.s.dispatcher.isActive(onB.id) || h.s.dispatcher.isActive(onC.id), { timeout: 15_000 }).toBe(false);

    // A restarted scheduler reads the measured moves back from its SQLite store.
    await h.restart();
    await h.report();
    const again = h.s.dispatcher.submit({ vm: "v0", destination: "c", requestedBy: "t", reason: "predict" });
    const vmOnB = h.s.state.vm("v1")!.host === "b" ? "v1" : "v2";
    const back = h.s.dispatcher.submit({ vm: vmOnB, destination: "a", requestedBy: "t", reason: "predict" });
    expect(back.predictedDurationMs!).toBeGreaterThan(3 * again.predictedDurationMs!);
  });
});
