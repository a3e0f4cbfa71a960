// Property-based tests: random clusters (host states, capacities, rules, in-flight migrations,
// recent failures, configs) through every policy and a profile; every plan must pass the
// independent invariant checker, leave unreachable hosts alone, be deterministic, and not move
// anything back when planning again on the applied result.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPlan, plan, planProfile, validatePlan } from "../src/index.js";
import type { ClusterSnapshot, MigrateStep, Plan } from "../src/index.js";
import { NOW, clusterArb } from "./arbitraries.js";

const migrations = (p: Plan) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");

/** What the generated plans contained, so a generator that never exercises a step kind fails. */
const seen = { migrate: 0, "power-off": 0, wake: 0, deferred: 0, notMoved: 0 };

function checkPlan(s: ClusterSnapshot, p: Plan): void {
  for (const step of p.steps) seen[step.kind]++;
  seen.deferred += p.deferred.length;
  seen.notMoved += p.notMoved.length;
  expect(validatePlan(s, p)).toEqual([]);
  const unreachable = new Set(s.hosts.filter((h) => h.state === "unreachable").map((h) => h.id));
  for (const step of p.steps) {
    const touched = step.kind === "migrate" ? [step.sourceHostId, step.destinationHostId] : [step.hostId];
    for (const h of touched) expect(unreachable.has(h)).toBe(false);
  }
  // Powered-off hosts: empty after the plan and never a destination afterwards.
  const after = applyPlan(s, p);
  for (const step of p.steps) {
    if (step.kind !== "power-off") continue;
    expect(after.vms.filter((v) => v.hostId === step.hostId)).toEqual([]);
  }
}

function noMoveBack(s: ClusterSnapshot, p: Plan, replan: (s: ClusterSnapshot) => Plan): void {
  const after = applyPlan(s, p);
  const again = replan(after);
  expect(validatePlan(after, again)).toEqual([]);
  const left = new Map(migrations(p).map((m) => [m.vmId, m.sourceHostId]));
  for (const m of migrations(again)) expect(left.get(m.vmId) === m.destinationHostId).toBe(false);
}

// POLICY_FC_RUNS raises the run count for a deeper search (e.g. 5000) without editing the test.
const RUNS = { numRuns: Number(process.env.POLICY_FC_RUNS ?? 250) };

describe("safety invariants over random clusters", () => {
  it("balance", () => {
    fc.assert(
      fc.property(clusterArb, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 10 }), (s, aggressiveness, maxMoves) => {
        const args = { aggressiveness, maxMoves };
        const p = plan(s, "balance", { nowMs: NOW, args });
        checkPlan(s, p);
        expect(plan(s, "balance", { nowMs: NOW, args })).toEqual(p);
        noMoveBack(s, p, (x) => plan(x, "balance", { nowMs: NOW, args }));
      }),
      RUNS,
    );
  });

  it("consolidate", () => {
    fc.assert(
      fc.property(clusterArb, fc.constantFrom([0.2, 0.6], [0.3, 0.8], [0.5, 0.95], [0.1, 1]), (s, [low, high]) => {
        const args = { band: { low, high } };
        const p = plan(s, "consolidate", { nowMs: NOW, args });
        checkPlan(s, p);
        expect(plan(s, "consolidate", { nowMs: NOW, args })).toEqual(p);
        noMoveBack(s, p, (x) => plan(x, "consolidate", { nowMs: NOW, args }));
      }),
      RUNS,
    );
  });

  it("drain", () => {
    fc.assert(
      fc.property(clusterArb, (s) => {
        const p = plan(s, "drain", { nowMs: NOW });
        checkPlan(s, p);
        noMoveBack(s, p, (x) => plan(x, "drain", { nowMs: NOW }));
        // Every VM left on a draining host is explained (or was held back by the limits).
        const draining = new Set(s.hosts.filter((h) => h.state === "draining" || h.state === "maintenance").map((h) => h.id));
        const moved = new Set([
          ...migrations(p).map((m) => m.vmId),
          ...p.deferred.map((d) => (d.step.kind === "migrate" ? d.step.vmId : "")),
        ]);
        const explained = new Set(p.notMoved.map((n) => n.vmId));
        const inFlight = new Set((s.inFlight ?? []).map((f) => f.vmId));
        for (const v of s.vms) {
          if (!draining.has(v.hostId) || moved.has(v.id)) continue;
          expect(explained.has(v.id) || inFlight.has(v.id)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("a profile of drain, balance and consolidate", () => {
    const profile = {
      name: "all",
      policies: [
        { policy: "drain" },
        { policy: "balance", args: { aggressiveness: 4 } },
        { policy: "consolidate", args: { band: { low: 0.3, high: 0.85 } } },
      ],
    };
    fc.assert(
      fc.property(clusterArb, (s) => {
        const p = planProfile(s, profile, { nowMs: NOW, seed: 3 });
        checkPlan(s, p);
        noMoveBack(s, p, (x) => planProfile(x, profile, { nowMs: NOW, seed: 3 }));
      }),
      { numRuns: Math.ceil(RUNS.numRuns / 2) },
    );
  });

  it("exercised every kind of step", () => {
    for (const [kind, n] of Object.entries(seen)) expect(n, kind).toBeGreaterThan(0);
  });
});
