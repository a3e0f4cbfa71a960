import { describe, expect, it } from "vitest";
import {
  builtinProfiles,
  forecastSeries,
  parseClusterConfig,
  parseSnapshot,
  plan,
  planProfile,
  policyNames,
  validatePlan,
  withUniqueVmIds,
} from "../src/index.js";
import type { MigrateStep } from "../src/index.js";
import { host, NOW, snap, vm } from "./fixtures.js";

describe("registry and profiles", () => {
  it("names the policies", () => {
    expect(policyNames().sort()).toEqual(["balance", "consolidate", "drain"]);
  });

  it("runs a profile in order: the drain's moves are seen by consolidate, and cross-policy dependencies hold", () => {
    const s = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3"), host("h4")],
      [vm("a", "h1", 500), vm("b", "h2", 300), vm("c", "h3", 300), vm("d", "h4", 3000)],
    );
    const p = planProfile(s, builtinProfiles.night, { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    const migs = p.steps.filter((x): x is MigrateStep => x.kind === "migrate");
    expect(migs[0]?.policy).toBe("drain");
    expect(migs[0]?.vmId).toBe("a");
    // No VM moves twice, and everything ends off h1.
    expect(new Set(migs.map((m) => m.vmId)).size).toBe(migs.length);
    expect(p.steps.map((x) => x.index)).toEqual(p.steps.map((_, i) => i));
    for (const step of p.steps) for (const d of step.dependsOn) expect(d).toBeLessThan(step.index);
    expect(p.policy).toBe("night");
  });

  it("refuses unknown policies and bad args inside a profile, naming the entry", () => {
    const s = snap([host("h1")], []);
    expect(() => planProfile(s, { name: "x", policies: [{ policy: "nope" }] }, { nowMs: NOW })).toThrow(/profile\.policies\.0\.policy/);
    expect(() => planProfile(s, { name: "x", policies: [{ policy: "consolidate", args: { band: { high: 7 } } }] }, { nowMs: NOW })).toThrow(
      /consolidate\.args\.band\.high/,
    );
    expect(() => planProfile(s, { name: "x", policies: [] }, { nowMs: NOW })).toThrow(/profile\.policies/);
  });

  it("applies the in-flight limits once, after planning, and reports deferred steps", () => {
    const s = snap([host("h1", { state: "draining" }), host("h2"), host("h3")], [vm("a", "h1", 10), vm("b", "h1", 10), vm("c", "h1", 10)], {
      config: { limits: { perSource: 2, perDestination: 2, perCluster: 8 } },
      inFlight: [{ id: "m0", vmId: "c", sourceHostId: "h1", destinationHostId: "h3", startedMs: NOW - 1 }],
    });
    const p = plan(s, "drain", { nowMs: NOW });
    expect(p.steps.filter((x) => x.kind === "migrate")).toHaveLength(1);
    expect(p.deferred.map((d) => d.code)).toEqual(["limit.per-source"]);
    expect(p.notMoved.find((n) => n.vmId === "c")?.code).toBe("vm.in-flight");
    expect(plan(s, "drain", { nowMs: NOW, unlimited: true }).steps).toHaveLength(2);
  });

  it("rejects bad snapshots and configs with the field named", () => {
    expect(() => parseSnapshot({ hosts: [{ id: "h" }], vms: [] })).toThrow(/snapshot\.hosts\.0\./);
    expect(() => parseSnapshot({ hosts: [], vms: [{ id: "v", hostId: "h", vcpus: 1, memoryMiB: 1, cpuDemandMhzHistory: [] }] })).toThrow(
      /snapshot\.vms\.0\.cpuDemandMhzHistory/,
    );
    expect(parseSnapshot(snap([host("h1")], [vm("a", "h1", 1)])).vms).toHaveLength(1);
    expect(() => parseClusterConfig({ capacity: { cpuHeadroom: 2 } })).toThrow(/config\.capacity\.cpuHeadroom/);
    expect(() => plan(snap([host("h1")], [vm("a", "nowhere", 1)]), "balance", { nowMs: NOW })).toThrow(
      /vms\.0\.hostId.*unknown host "nowhere"/,
    );
    expect(() => plan(snap([host("h1"), host("h1")], []), "balance", { nowMs: NOW })).toThrow(/duplicate host id/);
    expect(() => plan(snap([host("h1")], [vm("a", "h1", 1), vm("b", "h1", 1), vm("a", "h1", 1)]), "balance", { nowMs: NOW })).toThrow(
      /vms\.2\.id.*duplicate VM id "a"/,
    );
    expect(() => plan(snap([host("h1")], []), "balance", { nowMs: Number.NaN })).toThrow(/nowMs/);
  });

  it("trusts a snapshot declared to have unique VM ids, and no copy of it", () => {
    const trusted = withUniqueVmIds(snap([host("h1"), host("h2")], [vm("a", "h1", 1), vm("b", "h2", 1)]));
    expect(plan(trusted, "balance", { nowMs: NOW }).policy).toBe("balance");
    // The declaration holds for that object only: a copy with a duplicate is refused as ever.
    const copy = { ...trusted, vms: [...trusted.vms, vm("a", "h2", 1)] };
    expect(() => plan(copy, "balance", { nowMs: NOW })).toThrow(/vms\.2\.id.*duplicate VM id "a"/);
  });
});

describe("forecast", () => {
  const base = parseClusterConfig({}).forecast;
  const table: { name: string; h: number[]; over: Partial<typeof base>; want: number }[] = [
    { name: "last", h: [1, 9, 3], over: { statistic: "last", trend: false }, want: 3 },
    { name: "mean of window", h: [100, 1, 2, 3], over: { statistic: "mean", trend: false, windowSamples: 3 }, want: 2 },
    { name: "max of window", h: [100, 1, 5, 3], over: { statistic: "max", trend: false, windowSamples: 3 }, want: 5 },
    {
      name: "percentile",
      h: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      over: { statistic: "percentile", percentile: 0.9, trend: false, windowSamples: 10 },
      want: 9,
    },
    {
      name: "rising trend one step ahead",
      h: [10, 20, 30, 40],
      over: { statistic: "last", trend: true, windowSamples: 4, horizonSamples: 1 },
      want: 50,
    },
    {
      name: "trend three steps ahead",
      h: [10, 20, 30, 40],
      over: { statistic: "last", trend: true, windowSamples: 4, horizonSamples: 3 },
      want: 70,
    },
    { name: "falling trend keeps the statistic", h: [40, 30, 20, 10], over: { statistic: "max", trend: true, windowSamples: 4 }, want: 40 },
    { name: "safety margin", h: [100], over: { statistic: "last", safetyMargin: 0.2 }, want: 120 },
  ];
  for (const t of table) {
    it(t.name, () => expect(forecastSeries(t.h, { ...base, ...t.over })).toBeCloseTo(t.want, 6));
  }
});
