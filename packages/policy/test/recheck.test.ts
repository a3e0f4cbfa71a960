// recheckAdmitted: the steps the in-flight limits admit, replayed without the moves they defer.
import { describe, expect, it } from "vitest";
import { recheckAdmitted } from "../src/recheck.js";
import type { MigrateStep, PlanStep } from "../src/index.js";
import { config, host, NOW, snap, vm } from "./fixtures.js";

const prediction = {
  strategy: "live",
  durationMs: 1000,
  downtimeMs: 10,
  preCopyConverges: true,
  iterations: 1,
  bytesSent: 1,
  cost: 1,
} as const;
const move = (index: number, vmId: string, from: string, to: string, over: Partial<MigrateStep> = {}): MigrateStep => ({
  kind: "migrate",
  index,
  dependsOn: [],
  code: "test",
  message: "test",
  policy: "test",
  vmId,
  sourceHostId: from,
  destinationHostId: to,
  prediction,
  ...over,
});

// With the forecast of each host's summed window (mean, and the least-squares trend one sample on),
// a falls 6000 -> 0 and b rises 1000 -> 7000: b alone forecasts 9000 MHz, over h2's 8000, but
// beside a the sum is a flat 7000.
const s = snap(
  [host("h1", { state: "draining" }), host("h2"), host("h3", { state: "draining" })],
  [vm("a", "h1", [6000, 4000, 2000, 0]), vm("b", "h3", [1000, 3000, 5000, 7000])],
  { config: config({ capacity: { cpuHeadroom: 0 }, forecast: { statistic: "mean", windowSamples: 4, trend: true, aggregate: "host" } }) },
);
const codes = (r: { deferred: { step: PlanStep; code: string }[] }) => r.deferred.map((d) => [d.step.index, d.code]);

describe("recheckAdmitted", () => {
  it("keeps a move that fits beside the moves admitted before it", () => {
    const r = recheckAdmitted(s, [move(0, "a", "h1", "h2"), move(1, "b", "h3", "h2")], NOW);
    expect(r.admitted.map((x) => x.index)).toEqual([0, 1]);
    expect(r.deferred).toEqual([]);
  });

  it("defers a move whose room came from a move the limits deferred, and what waits for it", () => {
    const r = recheckAdmitted(
      s,
      [move(1, "b", "h3", "h2"), { kind: "power-off", index: 2, dependsOn: [1], code: "t", message: "t", policy: "t", hostId: "h3" }],
      NOW,
    );
    expect(r.admitted).toEqual([]);
    expect(codes(r)).toEqual([
      [1, "limit.capacity"],
      [2, "limit.dependency-deferred"],
    ]);
    expect(r.deferred[0]?.message).toBe("with the moves the limits defer left out, h2 has no room for b (capacity.cpu)");
  });

  it("defers the whole group when a later member has no room, and replays without it", () => {
    // c (h1 -> h2) and b form one group; a's move, which made room for b, was deferred.
    const withC = { ...s, vms: [...s.vms, vm("c", "h1", 100)] };
    const r = recheckAdmitted(withC, [move(1, "c", "h1", "h2", { group: "g" }), move(2, "b", "h3", "h2", { group: "g" })], NOW);
    expect(r.admitted).toEqual([]);
    expect(codes(r)).toEqual([
      [1, "limit.capacity"],
      [2, "limit.capacity"],
    ]);
  });
});
