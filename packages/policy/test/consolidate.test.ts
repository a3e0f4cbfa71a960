import { describe, expect, it } from "vitest";
import { applyPlan, plan, validatePlan } from "../src/index.js";
import type { ClusterSnapshot, MigrateStep, Plan } from "../src/index.js";
import { config, host, NOW, snap, vm } from "./fixtures.js";

const moves = (p: Plan) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");
const offs = (p: Plan) => p.steps.filter((s) => s.kind === "power-off").map((s) => (s.kind === "power-off" ? s.hostId : ""));
const wakes = (p: Plan) => p.steps.filter((s) => s.kind === "wake");
const four = (over: Parameters<typeof snap>[2] = {}, load = 800): ClusterSnapshot =>
  snap(
    [host("h1"), host("h2"), host("h3"), host("h4")],
    [vm("a", "h1", load), vm("b", "h2", load), vm("c", "h3", load), vm("d", "h4", load)],
    over,
  );

describe("consolidate", () => {
  it("packs a quiet cluster onto one host and powers the rest off, each off after its moves", () => {
    const s = four();
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(offs(p)).toHaveLength(3);
    expect(p.metrics.activeHostsAfter).toBe(1);
    for (const step of p.steps) {
      if (step.kind !== "power-off") continue;
      const out = moves(p)
        .filter((m) => m.sourceHostId === step.hostId)
        .map((m) => m.index);
      expect(step.dependsOn).toEqual(out);
    }
    const after = applyPlan(s, p);
    expect(after.hosts.filter((h) => h.state === "standby")).toHaveLength(3);
  });

  const table: { name: string; s: ClusterSnapshot; args?: object; offs: number; moves?: number; code?: string }[] = [
    { name: "spare floor of one host", s: four({ config: config({ spare: { hosts: 1 } }) }), offs: 2 },
    { name: "spare fraction of demand", s: four({ config: config({ spare: { cpuFraction: 2 } }) }), offs: 2 },
    {
      name: "hosts that may not be powered off",
      s: snap(
        ["h1", "h2"].map((id) => host(id, { power: { canPowerOff: false, canWake: false, wakeLatencyMs: 0 } })),
        [vm("a", "h1", 100), vm("b", "h2", 100)],
      ),
      offs: 0,
      moves: 0,
    },
    { name: "hosts inside the band (hysteresis)", s: four({}, 4000), offs: 0, moves: 0 },
    {
      name: "a pinned VM",
      s: snap([host("h1"), host("h2")], [vm("a", "h1", 100, { pinned: true }), vm("b", "h2", 3000)]),
      offs: 0,
      moves: 0,
      code: "vm.pinned",
    },
    {
      name: "the last healthy host of a rule",
      s: snap([host("h1"), host("h2"), host("h3")], [vm("a", "h1", 100), vm("b", "h2", 50), vm("c", "h3", 3000)], {
        rules: [{ id: "pair", kind: "vm-host", vmIds: ["a"], hostIds: ["h1", "h2"], mode: "must" }],
      }),
      offs: 1,
      code: "consolidate.host-not-emptied",
    },
    {
      name: "an in-flight migration",
      s: snap([host("h1"), host("h2"), host("h3")], [vm("a", "h1", 100), vm("b", "h2", 3000), vm("c", "h3", 3000)], {
        inFlight: [{ id: "m1", vmId: "a", sourceHostId: "h1", destinationHostId: "h2", startedMs: NOW - 1000 }],
      }),
      offs: 0,
      moves: 0,
    },
    {
      name: "memory that does not fit",
      s: snap(
        [host("h1"), host("h2", { memoryMiB: 2048 })],
        [vm("a", "h1", 100, { memoryMiB: 1536 }), vm("b", "h2", 3000, { memoryMiB: 1024 })],
      ),
      offs: 0,
      moves: 0,
    },
    {
      name: "memory ignored by config (simulator compat)",
      s: snap(
        [host("h1"), host("h2", { memoryMiB: 2048 })],
        [vm("a", "h1", 100, { memoryMiB: 1536 }), vm("b", "h2", 3000, { memoryMiB: 1024 })],
        {
          config: config({ capacity: { enforceMemory: false } }),
        },
      ),
      offs: 1,
      moves: 1,
    },
    { name: "a tight band (high 0.2)", s: four(), args: { band: { low: 0.15, high: 0.2 } }, offs: 2 },
    {
      name: "an unreachable host",
      s: snap(
        [host("h1", { state: "unreachable" }), host("h2"), host("h3")],
        [vm("a", "h1", 100), vm("b", "h2", 100), vm("c", "h3", 3000)],
      ),
      offs: 1,
      moves: 1,
    },
  ];
  for (const t of table) {
    it(`respects ${t.name}`, () => {
      const p = plan(t.s, "consolidate", { nowMs: NOW, args: t.args });
      expect(validatePlan(t.s, p)).toEqual([]);
      expect(offs(p)).toHaveLength(t.offs);
      if (t.moves !== undefined) expect(moves(p)).toHaveLength(t.moves);
      if (t.code !== undefined) expect(p.notMoved.map((n) => n.code)).toContain(t.code);
      for (const m of moves(p)) expect([m.sourceHostId, m.destinationHostId]).not.toContain("h1-unreachable");
    });
  }

  it("relieves a host above the band with the one cheapest VM that suffices", () => {
    const s = snap(
      [host("h1"), host("h2")],
      [vm("big", "h1", 2000, { memoryMiB: 8192 }), vm("small", "h1", 1900, { memoryMiB: 512 }), vm("x", "h1", 3000), vm("y", "h2", 4000)],
    );
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId, m.code])).toEqual([["small", "h2", "consolidate.relieve-overload"]]);
    // The reason gives the host's forecast and the VM's, so a move of a VM idle now explains itself.
    expect(moves(p)[0]?.message).toBe("h1 forecast 86% CPU, above the band (80%); its forecast 1900 MHz");
  });

  it("wakes a host for load above the band that finds no room, but not for load that cannot move now", () => {
    // h1 is above the band (7000 of 8000 MHz, high 80%); h3 has 4400 MHz free under the band, too
    // little for the VM, and the hosts on could carry the cluster's demand: only room is short.
    const overloaded = (over: Parameters<typeof vm>[3] = {}) =>
      snap(
        [host("h1"), host("h2", { state: "standby", power: { canPowerOff: true, canWake: true, wakeLatencyMs: 60_000 } }), host("h3")],
        [vm("a", "h1", 7000, { vcpus: 4, ...over }), vm("c", "h3", 2000)],
      );
    const roomless = overloaded();
    const woken = plan(roomless, "consolidate", { nowMs: NOW });
    expect(validatePlan(roomless, woken)).toEqual([]);
    expect(wakes(woken).map((w) => [w.kind === "wake" ? w.hostId : "", w.code, w.message])).toEqual([
      ["h2", "consolidate.wake-for-demand", "600 MHz above the band found no host with room under 80% CPU"],
    ]);
    // The same VM cooling down after a move: no host woken for it could take it this round.
    const cooling = overloaded({ lastMigrationMs: NOW - 60_000 });
    const kept = plan(cooling, "consolidate", { nowMs: NOW });
    expect(wakes(kept)).toEqual([]);
    expect(moves(kept)).toEqual([]);
    expect(kept.notMoved.find((n) => n.vmId === "a")?.code).toBe("vm.cooldown");
  });

  it("keeps room for load above the band that waits to move, but not for a pinned VM that never will", () => {
    // h1 is 600 MHz above the band (80% of 8000); without h3 the hosts left carry 12800 MHz under
    // the band: enough for the forecast 12500, not for it and the 600 that must move next round.
    const s = (over: Parameters<typeof vm>[3]) =>
      snap(
        [host("h1"), host("h2"), host("h3")],
        [vm("hot", "h1", 7000, { vcpus: 4, ...over }), vm("y", "h2", 5000, { vcpus: 3 }), vm("q", "h3", 500)],
      );
    // Cooling down after a move, the VM moves next round and needs the room: h3 stays on.
    const cooling = s({ lastMigrationMs: NOW - 60_000 });
    const held = plan(cooling, "consolidate", { nowMs: NOW });
    expect(validatePlan(cooling, held)).toEqual([]);
    expect(held.steps).toEqual([]);
    expect(held.notMoved.find((n) => n.vmId === "q")).toMatchObject({
      code: "consolidate.host-not-emptied",
      message:
        "h3 stays on: the hosts left on would carry less than the forecast 12500 MHz and the 600 MHz above the band that waits to move under the band",
    });
    // Pinned, it will never move: no room is kept for it.
    const pinned = s({ pinned: true });
    const packed = plan(pinned, "consolidate", { nowMs: NOW });
    expect(validatePlan(pinned, packed)).toEqual([]);
    expect(moves(packed).map((m) => [m.vmId, m.destinationHostId])).toEqual([["q", "h2"]]);
    expect(offs(packed)).toEqual(["h3"]);
  });

  it("wakes a standby host ahead of rising demand, in time for its wake latency, and empties nothing", () => {
    const rising = [3000, 3500, 4000, 4500, 5000, 5500];
    const s = snap(
      [
        host("h1"),
        host("h2"),
        host("h3", { state: "standby", power: { canPowerOff: true, canWake: true, wakeLatencyMs: 600_000 } }),
        host("h4", { state: "standby", power: { canPowerOff: true, canWake: false, wakeLatencyMs: 1 } }),
      ],
      [vm("a", "h1", rising, { vcpus: 4 }), vm("b", "h2", rising, { vcpus: 4 }), vm("c", "h2", 100)],
    );
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    const w = wakes(p);
    expect(w.map((x) => (x.kind === "wake" ? [x.hostId, x.code, x.readyByMs] : []))).toEqual([
      ["h3", "consolidate.wake-for-demand", NOW + 600_000],
    ]);
    expect(offs(p)).toEqual([]);
  });

  it("does not extrapolate a short noisy history far past its window to wake every host", () => {
    // 5 s reports, 300 s wake latency: a step from idle to busy on one 1-vCPU guest must not be read
    // as a demand the cluster's VMs could never produce (seen on the lab: 48 GHz forecast for 2 GHz).
    const step = [50, 50, 60, 40, 1900, 2000];
    const standby = (id: string) => host(id, { state: "standby", power: { canPowerOff: true, canWake: true, wakeLatencyMs: 300_000 } });
    const s = snap([host("h1"), standby("h2"), standby("h3")], [vm("busy", "h1", step), vm("idle", "h1", 50)], {
      config: config({ sampleIntervalMs: 5000 }),
    });
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(wakes(p)).toEqual([]);
  });

  it("wakes a host to restore the spare floor", () => {
    const s = snap([host("h1"), host("h2", { state: "standby" })], [vm("a", "h1", 4000)], { config: config({ spare: { hosts: 1 } }) });
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(wakes(p).map((x) => x.code)).toEqual(["consolidate.wake-for-spare"]);
  });

  it("proposes no move back when planning again right after, and stays quiet", () => {
    const s = four();
    const p = plan(s, "consolidate", { nowMs: NOW });
    const again = plan(applyPlan(s, p), "consolidate", { nowMs: NOW });
    expect(moves(again)).toEqual([]);
    expect(offs(again)).toEqual([]);
  });

  it("rejects a band with low above high", () => {
    expect(() => plan(four(), "consolidate", { nowMs: NOW, args: { band: { low: 0.9, high: 0.5 } } })).toThrow(/consolidate\.args\.band/);
  });
});

describe("consolidate with host-level forecast aggregation", () => {
  // Two VMs that peak at different times: each forecasts 5000 MHz alone, together never above 5500.
  const s = (aggregate: "vm" | "host") =>
    snap([host("h1"), host("h2")], [vm("a", "h1", [5000, 500, 5000, 500]), vm("b", "h2", [500, 5000, 500, 5000])], {
      config: config({ forecast: { statistic: "max", trend: false, aggregate } }),
    });
  it("packs complementary VMs together only when the host's summed history is forecast", () => {
    const args = { band: { low: 0.7, high: 0.9 } };
    expect(plan(s("vm"), "consolidate", { nowMs: NOW, args }).steps).toEqual([]);
    const p = plan(s("host"), "consolidate", { nowMs: NOW, args });
    expect(validatePlan(s("host"), p)).toEqual([]);
    expect(moves(p)).toHaveLength(1);
    expect(offs(p)).toHaveLength(1);
    // The same plan is unsafe under per-VM sums, and the checker says so.
    expect(validatePlan(s("vm"), p).map((v) => v.code)).toContain("invariant.cpu-capacity");
  });
});

describe("consolidate relief with host-level forecast aggregation", () => {
  it("moves on past the one VM that should have sufficed when the host's forecast hardly falls without it", () => {
    // h1's summed history is 7000 MHz at both samples, 600 above the band (80%). Each of a and b
    // forecasts 4000 alone, but without a the host still peaks at 7000 (b's sample): a, the
    // cheapest VM that covers 600, is not enough, and relief goes on with the biggest.
    const s = snap(
      [host("h1"), host("h2")],
      [
        vm("a", "h1", [0, 4000], { memoryMiB: 256 }),
        vm("b", "h1", [4000, 0], { memoryMiB: 1024 }),
        vm("c", "h1", [3000, 3000], { memoryMiB: 2048 }),
        vm("z", "h2", [100, 100]),
      ],
      { config: config({ forecast: { statistic: "max", windowSamples: 2, trend: false, aggregate: "host" } }) },
    );
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId, m.code])).toEqual([
      ["a", "h2", "consolidate.relieve-overload"],
      ["b", "h2", "consolidate.relieve-overload"],
    ]);
  });
});

describe("consolidate minimum on-time", () => {
  it("does not power off a host that came on recently, and applyPlan stamps woken hosts", () => {
    const s = four({ hosts: [host("h1", { onSinceMs: NOW - 60_000 }), host("h2"), host("h3"), host("h4")] });
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(offs(p)).not.toContain("h1");
    expect(offs(plan(s, "consolidate", { nowMs: NOW, args: { minOnMs: 0 } }))).toContain("h1");
    const w = snap([host("h1"), host("h2", { state: "standby" })], [vm("a", "h1", 4000)], { config: config({ spare: { hosts: 1 } }) });
    const after = applyPlan(w, plan(w, "consolidate", { nowMs: NOW }));
    expect(after.hosts[1]).toMatchObject({ state: "waking", onSinceMs: NOW + 120_000 });
  });

  it("moves a VM off a host that lacks its CPU model though every host is inside the band, and says why one cannot", () => {
    const models = (ids: string[]) => ({ cpuModels: ids });
    const s = snap(
      [host("h1", models(["old"])), host("h2", models(["old", "new"])), host("h3", models(["old"]))],
      [vm("a", "h1", 3000, { cpuModel: "new" }), vm("b", "h2", 3000), vm("p", "h3", 3000, { cpuModel: "new", pinned: true })],
    );
    const p = plan(s, "consolidate", { nowMs: NOW, args: { band: { low: 0.2, high: 0.9 }, powerOff: false } });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => [m.vmId, m.destinationHostId, m.code, m.message])).toEqual([
      ["a", "h2", "consolidate.move-misfit", "h1 lacks the CPU model it needs"],
    ]);
    expect(p.notMoved.find((n) => n.vmId === "p")).toMatchObject({
      code: "vm.pinned",
      message: "h3 lacks the CPU model it needs, but it cannot move now (vm.pinned)",
    });
    // A standby host that has the model is woken for it, though another comes first in wake order.
    const standby = (ids: string[], wakeLatencyMs: number) => ({
      ...models(ids),
      state: "standby" as const,
      power: { canPowerOff: true, canWake: true, wakeLatencyMs },
    });
    const asleep = snap(
      [host("h1", models(["old"])), host("h2", standby(["old"], 60_000)), host("h3", standby(["old", "new"], 120_000))],
      [vm("a", "h1", 1000, { cpuModel: "new" })],
    );
    const woken = plan(asleep, "consolidate", { nowMs: NOW, args: { band: { low: 0.2, high: 0.9 } } });
    expect(validatePlan(asleep, woken)).toEqual([]);
    expect(wakes(woken).map((w) => [w.hostId, w.code, w.message])).toEqual([
      ["h3", "consolidate.wake-for-misfit", "for a: h1 lacks the CPU model it needs, and no host that is on can take it"],
    ]);
    // h1, below the band, is not emptied either; the note says why a is stuck, not why h1 stays on.
    expect(woken.notMoved.find((n) => n.vmId === "a")).toMatchObject({
      code: "placement.no-destination",
      message: "h1 lacks the CPU model it needs; h3 is woken for it",
    });
    // A bridge or storage its host's report lacks is no reason to move: the VM runs there.
    const reported = snap(
      [host("h1", { bridges: [] }), host("h2", { bridges: ["br0"] })],
      [vm("a", "h1", 3000, { bridges: ["br0"] }), vm("b", "h2", 3000)],
    );
    expect(moves(plan(reported, "consolidate", { nowMs: NOW, args: { band: { low: 0.2, high: 0.9 }, powerOff: false } }))).toEqual([]);
    // With no host that has the model, the VM stays and the plan says so.
    const none = snap([host("h1", models(["old"])), host("h2", models(["old"]))], [vm("a", "h1", 3000, { cpuModel: "new" })]);
    const q = plan(none, "consolidate", { nowMs: NOW, args: { band: { low: 0.2, high: 0.9 }, powerOff: false } });
    expect(moves(q)).toEqual([]);
    expect(q.notMoved.find((n) => n.vmId === "a")).toMatchObject({
      code: "placement.no-destination",
      message: "h1 lacks the CPU model it needs, and no host that has it can take it",
    });
  });
});
