import { describe, expect, it } from "vitest";
import { applyLimits } from "../src/index.js";
import type { LimitMove, MigrateStep, PlanStep } from "../src/index.js";

const mig = (index: number, vmId: string, src: string, dst: string, dependsOn: number[] = []): MigrateStep => ({
  kind: "migrate",
  index,
  dependsOn,
  code: "test",
  message: "",
  policy: "test",
  vmId,
  sourceHostId: src,
  destinationHostId: dst,
  prediction: { strategy: "live", durationMs: 1, downtimeMs: 1, preCopyConverges: true, iterations: 1, bytesSent: 1, cost: 1 },
});

describe("applyLimits", () => {
  const limits = { perSource: 1, perDestination: 2, perCluster: 3 };
  it("counts in-flight migrations and defers per source, destination and cluster", () => {
    const steps: PlanStep[] = [
      mig(0, "a", "h1", "h2"),
      mig(1, "b", "h1", "h3"),
      mig(2, "c", "h4", "h2"),
      mig(3, "d", "h5", "h6"),
      mig(4, "e", "h7", "h8"),
    ];
    const r = applyLimits(steps, [{ id: "m", vmId: "z", sourceHostId: "h9", destinationHostId: "h2", startedMs: 0 }], limits);
    expect(r.admitted.map((s) => s.index)).toEqual([0, 3]);
    expect(r.deferred.map((d) => [d.step.index, d.code])).toEqual([
      [1, "limit.per-source"],
      [2, "limit.per-destination"],
      [4, "limit.per-cluster"],
    ]);
  });
  it("defers what depends on a deferred step, power-offs included", () => {
    const steps: PlanStep[] = [
      mig(0, "a", "h1", "h2"),
      mig(1, "b", "h1", "h3"),
      { kind: "power-off", index: 2, dependsOn: [0, 1], code: "x", message: "", policy: "t", hostId: "h1" },
      { kind: "wake", index: 3, dependsOn: [], code: "x", message: "", policy: "t", hostId: "h9", readyByMs: 0 },
    ];
    const r = applyLimits(steps, [], limits);
    expect(r.admitted.map((s) => s.index)).toEqual([0, 3]);
    expect(r.deferred.map((d) => d.code)).toEqual(["limit.per-source", "limit.dependency-deferred"]);
  });
});

describe("applyLimits with groups", () => {
  it("admits or defers the moves of an affinity group together", () => {
    const g = (index: number, vmId: string): PlanStep => ({ ...mig(index, vmId, "h1", "h2"), group: "affinity:a,b" });
    const r = applyLimits([g(0, "a"), g(1, "b")], [], { perSource: 1, perDestination: 5, perCluster: 5 });
    expect(r.admitted).toEqual([]);
    expect(r.deferred.map((d) => d.step.index)).toEqual([0, 1]);
    expect(r.deferred[0]?.message).toMatch(/group of 2/);
    expect(applyLimits([g(0, "a"), g(1, "b")], [], { perSource: 2, perDestination: 5, perCluster: 5 }).admitted).toHaveLength(2);
  });
});

describe("applyLimits with minimal steps", () => {
  it("needs only hosts and order, and hands back the caller's own objects", () => {
    // What the dispatcher passes: its queued moves, no prediction, with its own row attached.
    const queued = [
      { id: "m1", source: "h1", destination: "h2" },
      { id: "m2", source: "h1", destination: "h3" },
      { id: "m3", source: "h4", destination: "h2" },
    ];
    const steps = queued.map((row, index) => ({
      kind: "migrate" as const,
      index,
      dependsOn: [],
      sourceHostId: row.source,
      destinationHostId: row.destination,
      row,
    })) satisfies LimitMove[];
    const r = applyLimits(steps, [{ id: "m0", vmId: "z", sourceHostId: "h9", destinationHostId: "h2", startedMs: 0 }], {
      perSource: 1,
      perDestination: 2,
      perCluster: 5,
    });
    expect(r.admitted).toHaveLength(1);
    expect(r.admitted[0]).toBe(steps[0]);
    expect(r.admitted[0]!.row.id).toBe("m1");
    expect(r.deferred.map((d) => [d.step.row.id, d.code])).toEqual([
      ["m2", "limit.per-source"],
      ["m3", "limit.per-destination"],
    ]);
  });
});
