// The power-off rule (powerOffBlockers): clusters where the three old checks disagreed
// (consolidate, validatePlan, the scheduler's power manager, which looked at the last CPU sample
// only), and properties over random clusters tying it to consolidate and validatePlan.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applySteps, plan, PowerOffBlockCode, powerOffBlockers, validatePlan } from "../src/index.js";
import type { ClusterSnapshot, Plan, PowerOffStep } from "../src/index.js";
import { clusterArb } from "./arbitraries.js";
import { config, host, NOW, snap, vm } from "./fixtures.js";

const codes = (s: ClusterSnapshot, h: string) => powerOffBlockers(s, h).map((b) => b.code);
const offs = (p: Plan) => p.steps.filter((s): s is PowerOffStep => s.kind === "power-off").map((s) => s.hostId);
const offStep = (hostId: string): Pick<Plan, "steps" | "nowMs"> => ({
  nowMs: NOW,
  steps: [{ kind: "power-off", index: 0, dependsOn: [], code: "test", message: "test", policy: "test", hostId }],
});
/** Idle now (last sample 0), busy before: what the old power manager's last-sample check saw as idle. */
const busyThenIdle = (mhz: number) => [mhz, mhz, mhz, mhz, mhz, 0];

describe("powerOffBlockers: clusters where the old checks disagreed", () => {
  it("keeps a host whose CPU the spare needs by forecast although the last sample is idle", () => {
    // a carries 6000 MHz by forecast (max of the window); spare: half the demand free = 3000 MHz.
    // Without b only a's 2000 MHz are free. The old power manager saw 0 MHz used and said yes.
    const s = snap([host("a"), host("b")], [vm("v1", "a", busyThenIdle(3000)), vm("v2", "a", busyThenIdle(3000))], {
      config: config({ spare: { hosts: 0, cpuFraction: 0.5 } }),
    });
    expect(codes(s, "b")).toEqual([PowerOffBlockCode.spareCapacity]);
    expect(powerOffBlockers(s, "b")[0]?.message).toMatch(/without b free CPU would be 2000 MHz, below the spare 3000 MHz/);
    expect(offs(plan(s, "consolidate", { nowMs: NOW }))).toEqual([]);
    expect(validatePlan(s, offStep("b")).map((v) => v.code)).toEqual(["invariant.power-off-spare"]);
  });

  it("keeps a host whose memory the spare needs although every CPU is idle", () => {
    // spare.hosts = 1 keeps one largest host's memory (16 GiB) free; a and b hold 14 GiB each.
    const s = snap([host("a"), host("b"), host("c")], [vm("v1", "a", 0, { memoryMiB: 14_336 }), vm("v2", "b", 0, { memoryMiB: 14_336 })], {
      config: config({ spare: { hosts: 1, cpuFraction: 0 } }),
    });
    const why = powerOffBlockers(s, "c");
    expect(why.map((b) => b.code)).toEqual([PowerOffBlockCode.spareCapacity]);
    expect(why[0]?.message).toMatch(/free memory would be 4096 MiB, below the spare 16384 MiB/);
    expect(offs(plan(s, "consolidate", { nowMs: NOW }))).not.toContain("c");
    expect(validatePlan(s, offStep("c")).map((v) => v.code)).toEqual(["invariant.power-off-spare"]);
  });

  it("keeps a host whose capacity the rising forecast needs before a woken host could help", () => {
    // Demand climbs 1000 MHz per 5-minute sample; b takes 30 minutes to wake again, so the trend
    // is read 6 samples ahead: 12000 MHz, more than a's 8000. The last sample (6000) fits on a.
    const s = snap(
      [host("a"), host("b", { power: { canPowerOff: true, canWake: true, wakeLatencyMs: 1_800_000 } })],
      [vm("v1", "a", [500, 1000, 1500, 2000, 2500, 3000], { vcpus: 4 }), vm("v2", "a", [500, 1000, 1500, 2000, 2500, 3000], { vcpus: 4 })],
    );
    const why = powerOffBlockers(s, "b");
    expect(why.map((b) => b.code)).toEqual([PowerOffBlockCode.forecastDemand]);
    expect(why[0]?.message).toMatch(/without b the hosts on would have 8000 MHz for a forecast demand of 12000 MHz over the 1800 s/);
    expect(offs(plan(s, "consolidate", { nowMs: NOW }))).toEqual([]);
  });

  it("never powers off the last healthy host (consolidate used to power off every empty host)", () => {
    const s = snap([host("a"), host("b")], []);
    const p = plan(s, "consolidate", { nowMs: NOW });
    expect(offs(p)).toEqual(["a"]);
    expect(codes(applySteps(s, p.steps, NOW), "b")).toEqual([PowerOffBlockCode.lastHealthyHost]);
  });

  it("keeps a host whose idle VM is pinned and bound to it by a rule; an empty host in maintenance may go", () => {
    const s = snap([host("a"), host("b"), host("m", { state: "maintenance" })], [vm("db", "a", 0, { pinned: true })], {
      rules: [{ id: "db-on-a", kind: "vm-host", vmIds: ["db"], hostIds: ["a"], mode: "must" }],
    });
    expect(codes(s, "a")).toEqual([PowerOffBlockCode.vmsPresent, PowerOffBlockCode.lastHostOfRule]);
    expect(offs(plan(s, "consolidate", { nowMs: NOW }))).not.toContain("a");
    // Drain with powerOff: the scheduler powers off a host in maintenance, and so may the rule.
    expect(codes(s, "m")).toEqual([]);
    expect(validatePlan(s, offStep("m"))).toEqual([]);
  });

  it("names every other reason: state, canPowerOff, in-flight moves, unknown hosts", () => {
    const s = snap(
      [
        host("a"),
        host("b"),
        host("s", { state: "standby" }),
        host("u", { state: "unreachable" }),
        host("n", { power: { canPowerOff: false, canWake: false, wakeLatencyMs: 0 } }),
      ],
      [vm("v1", "a", 100)],
      { inFlight: [{ id: "m1", vmId: "v1", sourceHostId: "a", destinationHostId: "b", startedMs: NOW - 1000 }] },
    );
    expect(codes(s, "s")).toEqual([PowerOffBlockCode.hostState]);
    expect(codes(s, "u")).toEqual([PowerOffBlockCode.hostState]);
    expect(codes(s, "n")).toEqual([PowerOffBlockCode.cannotPowerOff]);
    expect(codes(s, "b")).toEqual([PowerOffBlockCode.migrationInFlight]);
    expect(codes(s, "zz")).toEqual([PowerOffBlockCode.unknownHost]);
  });
});

describe("power-offs beside moves the in-flight limits defer", () => {
  // With forecasts of each host's summed window (max of 3), v's peak (sample 3) falls where h2 is
  // idle: relief moving v to h2 takes 1500 MHz off h1's forecast and adds none to h2's. Only then
  // do h1, h2 and h4 keep the spare of one host (8000 MHz) free without h3: 2000 + 3000 + 3500
  // against 500 + 3000 + 3500 before. One move is in flight and the cluster allows one.
  const s = snap(
    [host("h1"), host("h2"), host("h3"), host("h4", { power: { canPowerOff: false, canWake: false, wakeLatencyMs: 0 } })],
    [
      vm("a", "h1", [6000, 6000, 6000], { memoryMiB: 4096 }),
      vm("v", "h1", [0, 0, 1500]),
      vm("b", "h2", [5000, 0, 0]),
      vm("c", "h4", [4500, 4500, 4500]),
      vm("d", "h4", [0, 0, 0]),
    ],
    {
      rules: [{ id: "not-h4", kind: "vm-host", vmIds: ["v"], hostIds: ["h4"], mode: "must-not" }],
      inFlight: [{ id: "m0", vmId: "d", sourceHostId: "h4", destinationHostId: "h1", startedMs: NOW - 5000 }],
      config: config({
        capacity: { cpuHeadroom: 0 },
        forecast: { statistic: "max", windowSamples: 3, trend: false, aggregate: "host" },
        spare: { hosts: 1, cpuFraction: 0 },
        limits: { perSource: 10, perDestination: 10, perCluster: 1 },
      }),
    },
  );
  const args = { band: { low: 0.3, high: 0.85 } };

  it("powers h3 off when relief's move goes too", () => {
    const p = plan(s, "consolidate", { nowMs: NOW, args, unlimited: true });
    expect(p.steps.map((x) => `${x.kind} ${x.kind === "migrate" ? x.vmId : x.hostId}`)).toEqual(["migrate v", "power-off h3"]);
  });

  it("defers the power-off with the move it relied on, and says why", () => {
    const p = plan(s, "consolidate", { nowMs: NOW, args });
    expect(p.steps).toEqual([]);
    expect(p.deferred.map((d) => [d.step.kind, d.code])).toEqual([
      ["migrate", "limit.per-cluster"],
      ["power-off", "limit.power-off-rule"],
    ]);
    expect(p.deferred[1]?.message).toMatch(
      /with the moves the limits defer left out: without h3 free CPU would be 7000 MHz, below the spare 8000 MHz/,
    );
    expect(validatePlan(s, p)).toEqual([]);
  });
});

describe("powerOffBlockers over random clusters", () => {
  const RUNS = { numRuns: Number(process.env.POLICY_FC_RUNS ?? 250) };
  let proposed = 0;
  let refused = 0;

  it("allows every power-off consolidate proposes, in the cluster the plan's earlier steps leave", () => {
    fc.assert(
      fc.property(clusterArb, fc.constantFrom([0.2, 0.6], [0.3, 0.8], [0.5, 0.95], [0.1, 1]), (s, [low, high]) => {
        const p = plan(s, "consolidate", { nowMs: NOW, args: { band: { low, high } } });
        expect(validatePlan(s, p)).toEqual([]);
        p.steps.forEach((step, k) => {
          if (step.kind !== "power-off") return;
          proposed++;
          expect(powerOffBlockers(applySteps(s, p.steps.slice(0, k), NOW), step.hostId)).toEqual([]);
        });
      }),
      RUNS,
    );
    expect(proposed).toBeGreaterThan(0);
  });

  it("refuses every power-off validatePlan refuses", () => {
    fc.assert(
      fc.property(clusterArb, fc.nat(), (s, i) => {
        const h = s.hosts[i % s.hosts.length]!.id;
        if (validatePlan(s, offStep(h)).length === 0) return;
        refused++;
        expect(powerOffBlockers(s, h)).not.toEqual([]);
      }),
      RUNS,
    );
    expect(refused).toBeGreaterThan(0);
  });
});
