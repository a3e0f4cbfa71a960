import { describe, expect, it } from "vitest";
import { applyPlan, plan, validatePlan } from "../src/index.js";
import type { MigrateStep } from "../src/index.js";
import { config, host, NOW, snap, vm } from "./fixtures.js";

const moves = (p: ReturnType<typeof plan>) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");

describe("drain", () => {
  it("empties a draining host onto the least loaded hosts, biggest first", () => {
    const s = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3")],
      [vm("a", "h1", 1000, { memoryMiB: 2048 }), vm("b", "h1", 500), vm("c", "h2", 3000)],
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId, m.code])).toEqual([
      ["a", "h3", "drain.evacuate"],
      ["b", "h3", "drain.evacuate"],
    ]);
    const after = applyPlan(s, p);
    expect(after.vms.filter((v) => v.hostId === "h1")).toEqual([]);
  });

  it("drains a named healthy host and refuses an unknown one", () => {
    const s = snap([host("h1"), host("h2")], [vm("a", "h1", 100)]);
    expect(moves(plan(s, "drain", { nowMs: NOW, args: { hostIds: ["h1"] } })).map((m) => m.destinationHostId)).toEqual(["h2"]);
    expect(() => plan(s, "drain", { nowMs: NOW, args: { hostIds: ["nope"] } })).toThrow(/drain|unknown host "nope"/);
    expect(() => plan(s, "drain", { nowMs: NOW, args: { hostIds: "h1" } })).toThrow(/drain\.args\.hostIds/);
  });

  const cases: { name: string; s: ReturnType<typeof snap>; vm: string; code: string; message: RegExp }[] = [
    {
      name: "pinned VM",
      s: snap([host("h1", { state: "draining" }), host("h2")], [vm("a", "h1", 100, { pinned: true })]),
      vm: "a",
      code: "vm.pinned",
      message: /pinned/,
    },
    {
      name: "no capacity anywhere",
      s: snap([host("h1", { state: "draining" }), host("h2")], [vm("a", "h1", 5000), vm("b", "h2", 4000)]),
      vm: "a",
      code: "placement.no-destination",
      message: /1 host\(s\) capacity\.cpu/,
    },
    {
      name: "memory full",
      s: snap([host("h1", { state: "maintenance" }), host("h2", { memoryMiB: 1000 })], [vm("a", "h1", 5)]),
      vm: "a",
      code: "placement.no-destination",
      message: /capacity\.memory/,
    },
    {
      name: "must rule to the draining host only",
      s: snap([host("h1", { state: "draining" }), host("h2")], [vm("a", "h1", 5)], {
        rules: [{ id: "r", kind: "vm-host", vmIds: ["a"], hostIds: ["h1"], mode: "must" }],
      }),
      vm: "a",
      code: "placement.no-destination",
      message: /rule\.vm-host-must/,
    },
    {
      name: "missing bridge",
      s: snap([host("h1", { state: "draining" }), host("h2", { bridges: ["br0"] })], [vm("a", "h1", 5, { bridges: ["br1"] })]),
      vm: "a",
      code: "placement.no-destination",
      message: /compat\.bridge/,
    },
    {
      name: "unreachable host is no source",
      s: snap([host("h1", { state: "unreachable" }), host("h2")], [vm("a", "h1", 5)]),
      vm: "a",
      code: "host.excluded",
      message: /unreachable/,
    },
    {
      name: "never converges",
      s: snap([host("h1", { state: "draining" }), host("h2")], [vm("a", "h1", 5, { dirtyRateBytesPerSec: 1e10 })], {
        config: { migration: { allowAutoConverge: false } },
      }),
      vm: "a",
      code: "migration.not-convergent",
      message: /dirty rate/,
    },
  ];
  for (const c of cases) {
    it(`explains why a VM cannot leave: ${c.name}`, () => {
      const p = plan(c.s, "drain", { nowMs: NOW, args: c.name === "unreachable host is no source" ? { hostIds: ["h1"] } : {} });
      expect(moves(p)).toEqual([]);
      const n = p.notMoved.find((x) => x.vmId === c.vm);
      expect(n?.code).toBe(c.code);
      expect(n?.message).toMatch(c.message);
    });
  }

  it("uses a parking move when anti-affinity blocks the only host with room", () => {
    // h2 is the only host with room for a; b sits there and is anti-affine with a; b fits on h3.
    const s = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3", { cpuCapacityMhz: 1000 })],
      [vm("a", "h1", 3000), vm("b", "h2", 500)],
      { rules: [{ id: "apart", kind: "vm-anti-affinity", vmIds: ["a", "b"], hard: true }] },
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    const m = moves(p);
    expect(m.map((x) => [x.vmId, x.destinationHostId, x.code])).toEqual([
      ["b", "h3", "drain.parking-move"],
      ["a", "h2", "drain.evacuate"],
    ]);
    expect(m[1]?.dependsOn).toContain(m[0]?.index);
    expect(p.ruleBlocks.map((r) => r.ruleId)).toContain("apart");
  });

  it("admits a parking move only with the move it makes room for", () => {
    // As above, with one move already in flight and room for one more: moving b alone would make
    // room for nothing this round (and the next plan may park another VM instead).
    const base = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3", { cpuCapacityMhz: 1000 }), host("h4", { cpuCapacityMhz: 100 })],
      [vm("a", "h1", 3000), vm("b", "h2", 500), vm("x", "h4", 10)],
      {
        rules: [{ id: "apart", kind: "vm-anti-affinity", vmIds: ["a", "b"], hard: true }],
        inFlight: [{ id: "m0", vmId: "x", sourceHostId: "h4", destinationHostId: "h3", startedMs: NOW - 1000 }],
      },
    );
    const limited = (perCluster: number) =>
      plan({ ...base, config: config({ limits: { perSource: 10, perDestination: 10, perCluster } }) }, "drain", { nowMs: NOW });
    const two = limited(2);
    expect(moves(two)).toEqual([]);
    expect(two.deferred.map((d) => (d.step.kind === "migrate" ? [d.step.vmId, d.code] : []))).toEqual([
      ["b", "limit.per-cluster"],
      ["a", "limit.per-cluster"],
    ]);
    expect(two.deferred[0]?.message).toMatch(/group of 2 moves together/);
    const three = limited(3);
    expect(moves(three).map((x) => [x.vmId, x.code])).toEqual([
      ["b", "drain.parking-move"],
      ["a", "drain.evacuate"],
    ]);
    expect(validatePlan(base, three)).toEqual([]);
  });

  it("does not park a VM on the host it left within the return cool-down", () => {
    // b left h3 a minute ago: parked, it goes to h4 although h3 is emptier. The evacuated VM may
    // still go back where it came from (the operator asked for the drain).
    const s = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3"), host("h4")],
      [
        vm("a", "h1", 7000, { previousHostId: "h2", lastMigrationMs: NOW - 60_000 }),
        vm("b", "h2", 500, { previousHostId: "h3", lastMigrationMs: NOW - 60_000 }),
        vm("c", "h3", 1500),
        vm("e", "h4", 2000),
      ],
      {
        rules: [{ id: "apart", kind: "vm-anti-affinity", vmIds: ["a", "b"], hard: true }],
        config: config({ cooldown: { vmMs: 0, returnMs: 600_000 } }),
      },
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((x) => [x.vmId, x.destinationHostId, x.code])).toEqual([
      ["b", "h4", "drain.parking-move"],
      ["a", "h2", "drain.evacuate"],
    ]);
  });

  it("moves a hard-affinity group together", () => {
    const s = snap(
      [host("h1", { state: "draining" }), host("h2"), host("h3")],
      [vm("a", "h1", 100), vm("b", "h1", 100), vm("x", "h2", 10)],
      { rules: [{ id: "together", kind: "vm-affinity", vmIds: ["a", "b"], hard: true }] },
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    const m = moves(p);
    expect(m).toHaveLength(2);
    expect(new Set(m.map((x) => x.destinationHostId)).size).toBe(1);
    expect(m[0]?.group).toBeDefined();
    expect(m[0]?.group).toBe(m[1]?.group);
  });

  it("ignores the VM cool-down (operator request) but not a failed pair's cool-down", () => {
    const s = snap([host("h1", { state: "draining" }), host("h2"), host("h3")], [vm("a", "h1", 100, { lastMigrationMs: NOW - 1000 })], {
      recentFailures: [{ vmId: "a", destinationHostId: "h2", atMs: NOW - 60_000 }],
    });
    const p = plan(s, "drain", { nowMs: NOW });
    expect(moves(p).map((x) => x.destinationHostId)).toEqual(["h3"]);
  });
});
