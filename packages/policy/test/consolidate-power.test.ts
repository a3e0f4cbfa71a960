import { describe, expect, it } from "vitest";
import { applyPlan, plan, validatePlan } from "../src/index.js";
import type { Host, MigrateStep, Plan } from "../src/index.js";
import { host, NOW, snap, vm } from "./fixtures.js";

const moves = (p: Plan) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");
const offs = (p: Plan) => p.steps.flatMap((s) => (s.kind === "power-off" ? [s.hostId] : []));
const wakes = (p: Plan) => p.steps.flatMap((s) => (s.kind === "wake" ? [s.hostId] : []));
// Power of the reference's HP ML110 G4 (3720 MHz) and G5 (5320 MHz): the G5 is ~20% cheaper per MHz.
/** A host model: its shape and its idle and full-load watts. */
const hostType =
  (shape: Partial<Host>, idleW: number, maxW: number) =>
  (id: string, over: Partial<Host> = {}) =>
    host(id, { ...shape, power: { canPowerOff: true, canWake: true, wakeLatencyMs: 60_000, idleW, maxW }, ...over });
const g4 = hostType({ cpuCores: 2, cpuCapacityMhz: 3720 }, 86, 117);
const g5 = hostType({ cpuCores: 2, cpuCapacityMhz: 5320 }, 93.7, 135);
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
    // The step says why: not "below the band" (it is inside it), its watts against the best host's.
    expect(moves(p)[0]?.message).toBe("empty old (31.5 W per GHz at full load, the best host 25.4 W per GHz at full load)");
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

  it("wakes no replacement that the inefficient hosts' VMs may not go to, so it is not woken again every round", () => {
    // The G4s cannot empty into each other or the busy G5; their VMs need a CPU model.
    const layout = (modelsOnStandby: string[]) =>
      snap(
        [
          g4("old1", { cpuModels: ["skylake"] }),
          g4("old2", { cpuModels: ["skylake"] }),
          g5("new1", { state: "standby", cpuModels: modelsOnStandby }),
          g5("new2", { cpuModels: ["skylake"] }),
        ],
        [
          vm("a", "old1", 2000, { cpuModel: "skylake" }),
          vm("a2", "old1", 1000),
          vm("b", "old2", 3000, { cpuModel: "skylake" }),
          vm("c", "new2", 4500),
        ],
      );
    const without = layout([]);
    const p = plan(without, "consolidate", { nowMs: NOW, args: band });
    expect(validatePlan(without, p)).toEqual([]);
    expect(wakes(p)).toEqual([]);
    expect(wakes(plan(layout(["skylake"]), "consolidate", { nowMs: NOW, args: band }))).toEqual(["new1"]);
  });

  it("ranks by watts per MHz only while CPU binds, not when memory fills first", () => {
    const mk = (memoryMiB: number) =>
      snap([g4("old"), g5("new")], [vm("a", "old", 2500, { memoryMiB }), vm("b", "new", 1200, { memoryMiB })]);
    const cpuBound = mk(6000); // memory 37% of the powered hosts, CPU 41%
    expect(offs(plan(cpuBound, "consolidate", { nowMs: NOW, args: band }))).toEqual(["old"]);
    // Memory 43%: per GiB at this load the G4 (same memory, ~101 W) beats the G5 (~108 W) by less than
    // the margin, so neither is inefficient and the G4 stays (it would still fit on the G5).
    const memBound = mk(7000);
    expect(moves(plan(memBound, "consolidate", { nowMs: NOW, args: band }))).toEqual([]);
  });

  // Two generations: "cpu" is cheaper per MHz (260 W for 16 GHz) but has 16 GiB; "mem" is dearer per
  // MHz (200 W for 8 GHz) but has 64 GiB. Which one is worth keeping on depends on what binds.
  const cpuHost = hostType({ cpuCapacityMhz: 16_000, memoryMiB: 16_384 }, 150, 260);
  const memHost = hostType({ cpuCapacityMhz: 8000, memoryMiB: 65_536 }, 120, 200);
  const gib = 1024;
  const lowBand = { band: { low: 0.05, high: 0.9 } };

  it("when memory binds, empties the host that draws more per GiB at the cluster's load, though it is cheaper per MHz", () => {
    // Memory 31% of the powered hosts, CPU 7%: memory sets the host count. Both hosts are inside the
    // band (6% and 7.5% CPU), so only the efficiency preference moves anything.
    const s = snap([cpuHost("c"), memHost("m")], [vm("a", "c", 1000, { memoryMiB: 10 * gib }), vm("b", "m", 600, { memoryMiB: 15 * gib })]);
    const p = plan(s, "consolidate", { nowMs: NOW, args: lowBand });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId])).toEqual([["a", "m"]]);
    expect(moves(p)[0]?.message).toMatch(/^empty c \(\d+\.\d\d W per GiB at this cluster's load, the best host \d+\.\d\d W per GiB/);
    expect(offs(p)).toEqual(["c"]);
    // The same hosts with CPU binding (small VMs, heavy CPU): the 64 GiB host is the one emptied.
    const cpu = snap([cpuHost("c"), memHost("m")], [vm("a", "c", 4000), vm("b", "m", 2000)]);
    const q = plan(cpu, "consolidate", { nowMs: NOW, args: lowBand });
    expect(validatePlan(cpu, q)).toEqual([]);
    expect(offs(q)).toEqual(["m"]);
  });

  it("calls no host inefficient while neither resource is clearly the fuller one (the two rankings disagree)", () => {
    const layout = (cpuA: number, memB: number) =>
      snap([cpuHost("c"), memHost("m")], [vm("a", "c", cpuA, { memoryMiB: 10 * gib }), vm("b", "m", 2000, { memoryMiB: memB * gib })]);
    const offsAt = (s: ReturnType<typeof layout>) => {
      const p = plan(s, "consolidate", { nowMs: NOW, args: lowBand });
      expect(validatePlan(s, p)).toEqual([]);
      return offs(p);
    };
    expect(offsAt(layout(3000, 6))).toEqual([]); // CPU 21% of the powered hosts, memory 20%
    expect(offsAt(layout(3000, 12))).toEqual(["c"]); // memory 28%: per GiB, c is the dear one
    expect(offsAt(layout(6000, 6))).toEqual(["m"]); // CPU 33%: per MHz, m is
  });

  it("when memory binds, still wakes for CPU demand the standby host with the fewest watts per MHz", () => {
    // Memory 57% of the powered hosts, CPU 50%. m1 is above the band and m2 has no memory left.
    const s = snap(
      [memHost("m1"), memHost("m2"), memHost("m3", { state: "standby" }), cpuHost("c", { state: "standby" })],
      [
        vm("a", "m1", 3750, { memoryMiB: 5 * gib }),
        vm("b", "m1", 3750, { memoryMiB: 5 * gib }),
        vm("d", "m2", 500, { memoryMiB: 63 * gib }),
      ],
    );
    const p = plan(s, "consolidate", { nowMs: NOW, args: lowBand });
    expect(validatePlan(s, p)).toEqual([]);
    expect(wakes(p)).toEqual(["c"]);
  });

  it("when memory binds, wakes a standby host with more memory per watt to replace one that has no room to empty into", () => {
    const s = snap(
      [cpuHost("c1"), cpuHost("c2"), memHost("m1", { state: "standby" })],
      [vm("a", "c1", 500, { memoryMiB: 12 * gib }), vm("b", "c2", 500, { memoryMiB: 12 * gib })],
    );
    const p = plan(s, "consolidate", { nowMs: NOW, args: lowBand });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p)).toEqual([]);
    expect(wakes(p)).toEqual(["m1"]);
    const wake = p.steps.find((x) => x.kind === "wake");
    expect(wake?.message).toMatch(/replace less efficient hosts \(\d+\.\d\d W per GiB at this cluster's load here\)/);
    // Once it is up, both 16 GiB hosts are emptied onto it (24 of its 64 GiB) and powered off.
    const after = applyPlan(s, p);
    const up = { ...after, hosts: after.hosts.map((h) => (h.id === "m1" ? { ...h, state: "healthy" as const } : h)) };
    const p2 = plan(up, "consolidate", { nowMs: NOW + 300_000, args: lowBand });
    expect(validatePlan(up, p2)).toEqual([]);
    expect(moves(p2).map((m) => m.destinationHostId)).toEqual(["m1", "m1"]);
    expect(offs(p2).sort()).toEqual(["c1", "c2"]);
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
