import { describe, expect, it } from "vitest";
import { applyPlan, plan, validatePlan } from "../src/index.js";
import type { Host, MigrateStep, Plan } from "../src/index.js";
import { host, NOW, snap, vm } from "./fixtures.js";

const moves = (p: Plan) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");
const offs = (p: Plan) => p.steps.flatMap((s) => (s.kind === "power-off" ? [s.hostId] : []));
const wakes = (p: Plan) => p.steps.flatMap((s) => (s.kind === "wake" ? [s.hostId] : []));
// Power of the reference's HP ML110 G4 (3720 MHz) and G5 (5320 MHz): the G5 is ~20% cheaper per MHz.
const g4 = (id: string, over: Partial<Host> = {}) =>
  host(id, {
    cpuCores: 2,
    cpuCapacityMhz: 3720,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 60_000, idleW: 86, maxW: 117 },
    ...over,
  });
const g5 = (id: string, over: Partial<Host> = {}) =>
  host(id, {
    cpuCores: 2,
    cpuCapacityMhz: 5320,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 60_000, idleW: 93.7, maxW: 135 },
    ...over,
  });
const band = { band: { low: 0.3, high: 0.9 } };

describe("consolidate with host power data", () => {
  it("of two equally loaded hosts of different efficiency, empties the inefficient one", () => {
    for (const order of [
      ["old", "new"],
      ["new", "old"],
    ]) {
      const hosts = order.map((id) => (id === "old" ? g4(id) : g5(id)));
      const s = snap(hosts, [vm("a", "old", 900), vm("b", "new", 900)]);
      const p = plan(s, "consolidate", { nowMs: NOW, args: band });
      expect(validatePlan(s, p)).toEqual([]);
      expect(moves(p).map((m) => [m.vmId, m.destinationHostId])).toEqual([["a", "new"]]);
      expect(offs(p)).toEqual(["old"]);
    }
  });

  it("empties an inefficient host inside the band when efficient hosts have room", () => {
    const s = snap([g4("old"), g5("new")], [vm("a", "old", 2500), vm("b", "new", 1200)]);
    const p = plan(s, "consolidate", { nowMs: NOW, args: band });
    expect(validatePlan(s, p)).toEqual([]);
    expect(offs(p)).toEqual(["old"]);
    // Without power data the G4 (67% CPU) is inside the band and stays.
    const plain = snap(
      [host("old", { cpuCapacityMhz: 3720 }), host("new", { cpuCapacityMhz: 5320 })],
      [vm("a", "old", 2500), vm("b", "new", 1200)],
    );
    expect(moves(plan(plain, "consolidate", { nowMs: NOW, args: band }))).toEqual([]);
  });

  it("does not move VMs from an efficient host onto an inefficient one", () => {
    const s = snap([g4("old"), g5("new")], [vm("a", "old", 3000), vm("b", "new", 300)]);
    const p = plan(s, "consolidate", { nowMs: NOW, args: band });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).filter((m) => m.destinationHostId === "old")).toEqual([]);
  });

  it("wakes the most efficient standby host to replace inefficient ones, then empties them onto it", () => {
    const s = snap(
      [g4("old1"), g4("old2"), g5("new1", { state: "standby" }), g4("old3", { state: "standby" }), g5("new2")],
      [vm("a", "old1", 3000), vm("b", "old2", 3000), vm("c", "new2", 4500)],
    );
    const p = plan(s, "consolidate", { nowMs: NOW, args: band });
    expect(validatePlan(s, p)).toEqual([]);
    expect(wakes(p)).toEqual(["new1"]);
    expect(moves(p)).toEqual([]);
    // Once it is up, the G4s' VMs go to the G5 that has room.
    const after = applyPlan(s, p);
    const up = { ...after, hosts: after.hosts.map((h) => (h.id === "new1" ? { ...h, state: "healthy" as const } : h)) };
    const p2 = plan(up, "consolidate", { nowMs: NOW + 300_000, args: band });
    expect(validatePlan(up, p2)).toEqual([]);
    expect(moves(p2).map((m) => m.destinationHostId)).toContain("new1");
    expect(offs(p2).every((h) => h.startsWith("old"))).toBe(true);
    expect(offs(p2).length).toBeGreaterThan(0);
  });

  it("ranks by watts per MHz only while CPU binds, not when memory fills first", () => {
    const mk = (memoryMiB: number) =>
      snap([g4("old"), g5("new")], [vm("a", "old", 2500, { memoryMiB }), vm("b", "new", 1200, { memoryMiB })]);
    const cpuBound = mk(6000); // memory 37% of the powered hosts, CPU 41%
    expect(offs(plan(cpuBound, "consolidate", { nowMs: NOW, args: band }))).toEqual(["old"]);
    const memBound = mk(7000); // memory 43%: the G4 stays (it would still fit on the G5)
    expect(moves(plan(memBound, "consolidate", { nowMs: NOW, args: band }))).toEqual([]);
  });

  it("the preference can be switched off", () => {
    const s = snap([g4("old"), g5("new")], [vm("a", "old", 2500), vm("b", "new", 1200)]);
    const p = plan(s, "consolidate", { nowMs: NOW, args: { ...band, preferEfficient: false } });
    expect(moves(p)).toEqual([]);
  });
});

describe("core speed (capacity.enforceCoreSpeed)", () => {
  // A 2200 MHz single-vCPU VM cannot run at full speed on 1860 MHz cores, whatever the total.
  const s = (enforceCoreSpeed: boolean) =>
    snap(
      [host("fast", { cpuCores: 4, cpuCapacityMhz: 10_640 }), host("slow", { cpuCores: 4, cpuCapacityMhz: 7440 })],
      [vm("big", "fast", 2200), vm("small", "slow", 3000)],
      { config: { limits: { perSource: 100, perDestination: 100, perCluster: 1000 }, capacity: { enforceCoreSpeed } } },
    );
  it("keeps a VM off hosts whose cores are slower than its per-vCPU demand", () => {
    const p = plan(s(true), "consolidate", { nowMs: NOW, args: band });
    expect(validatePlan(s(true), p)).toEqual([]);
    expect(moves(p)).toEqual([]);
    expect(p.notMoved.find((n) => n.vmId === "big")?.message).toMatch(/no host can take big/);
  });
  it("is off by default (total capacity only)", () => {
    const p = plan(s(false), "consolidate", { nowMs: NOW, args: band });
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId])).toEqual([["big", "slow"]]);
  });
});
