// The invariant checker must catch each kind of unsafe plan (else the property tests prove nothing).
import { describe, expect, it } from "vitest";
import { validatePlan, ViolationCode } from "../src/index.js";
import type { ClusterSnapshot, MigrateStep, PlanStep } from "../src/index.js";
import { config, host, NOW, snap, vm } from "./fixtures.js";

const pred = { strategy: "live" as const, durationMs: 1, downtimeMs: 1, preCopyConverges: true, iterations: 1, bytesSent: 1, cost: 1 };
const mig = (index: number, vmId: string, src: string, dst: string, dependsOn: number[] = []): MigrateStep => ({
  kind: "migrate",
  index,
  dependsOn,
  code: "t",
  message: "",
  policy: "t",
  vmId,
  sourceHostId: src,
  destinationHostId: dst,
  prediction: pred,
});
const off = (index: number, hostId: string, dependsOn: number[] = []): PlanStep => ({
  kind: "power-off",
  index,
  dependsOn,
  code: "t",
  message: "",
  policy: "t",
  hostId,
});

const base = (): ClusterSnapshot =>
  snap(
    [
      host("h1"),
      host("h2"),
      host("h3", { state: "unreachable" }),
      host("h4", { state: "standby", power: { canPowerOff: true, canWake: false, wakeLatencyMs: 0 } }),
    ],
    [vm("a", "h1", 1000), vm("b", "h2", 7500), vm("p", "h1", 10, { pinned: true })],
  );

const cases: { name: string; s?: ClusterSnapshot; steps: PlanStep[]; code: string }[] = [
  { name: "CPU over capacity", steps: [mig(0, "a", "h1", "h2")], code: ViolationCode.cpu },
  {
    name: "memory over capacity",
    s: snap([host("h1"), host("h2", { memoryMiB: 512 })], [vm("a", "h1", 1)]),
    steps: [mig(0, "a", "h1", "h2")],
    code: ViolationCode.memory,
  },
  { name: "unreachable destination", steps: [mig(0, "a", "h1", "h3")], code: ViolationCode.badDestination },
  { name: "standby destination", steps: [mig(0, "a", "h1", "h4")], code: ViolationCode.badDestination },
  { name: "pinned VM", steps: [mig(0, "p", "h1", "h2")], code: ViolationCode.pinned },
  { name: "wrong source", steps: [mig(0, "a", "h2", "h1")], code: ViolationCode.wrongSource },
  { name: "power-off with a VM", steps: [off(0, "h1")], code: ViolationCode.powerOffNotEmpty },
  {
    name: "power-off not waiting for its moves",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1)]),
    steps: [mig(0, "a", "h1", "h2"), off(1, "h1")],
    code: ViolationCode.missingDependency,
  },
  {
    name: "power-off below the spare floor",
    s: snap([host("h1"), host("h2")], [vm("a", "h2", 1)], { config: config({ spare: { hosts: 1 } }) }),
    steps: [off(0, "h1")],
    code: ViolationCode.powerOffSpare,
  },
  {
    name: "power-off of a rule's last healthy host",
    s: snap([host("h1"), host("h2")], [vm("a", "h2", 1)], {
      rules: [{ id: "r", kind: "vm-host", vmIds: ["a"], hostIds: ["h1"], mode: "should" }],
    }),
    steps: [off(0, "h1")],
    code: ViolationCode.powerOffLastRuleHost,
  },
  {
    name: "hard anti-affinity",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1), vm("b", "h2", 1)], {
      rules: [{ id: "r", kind: "vm-anti-affinity", vmIds: ["a", "b"], hard: true }],
    }),
    steps: [mig(0, "a", "h1", "h2")],
    code: ViolationCode.antiAffinity,
  },
  {
    name: "hard affinity split",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1), vm("b", "h1", 1)], {
      rules: [{ id: "r", kind: "vm-affinity", vmIds: ["a", "b"], hard: true }],
    }),
    steps: [mig(0, "a", "h1", "h2")],
    code: ViolationCode.affinity,
  },
  {
    name: "must rule",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1)], {
      rules: [{ id: "r", kind: "vm-host", vmIds: ["a"], hostIds: ["h1"], mode: "must" }],
    }),
    steps: [mig(0, "a", "h1", "h2")],
    code: ViolationCode.vmHost,
  },
  {
    name: "failed pair in cool-down",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1)], { recentFailures: [{ vmId: "a", destinationHostId: "h2", atMs: NOW - 1000 }] }),
    steps: [mig(0, "a", "h1", "h2")],
    code: ViolationCode.failureCooldown,
  },
  {
    name: "in-flight limits",
    s: snap([host("h1"), host("h2")], [vm("a", "h1", 1), vm("b", "h1", 1)], { config: { limits: { perSource: 1 } } }),
    steps: [mig(0, "a", "h1", "h2"), mig(1, "b", "h1", "h2")],
    code: ViolationCode.limits,
  },
  {
    name: "capacity that relies on a departure not waited for",
    s: snap([host("h1"), host("h2", { cpuCapacityMhz: 1000 })], [vm("a", "h1", 800), vm("b", "h2", 800)]),
    steps: [mig(0, "b", "h2", "h1"), mig(1, "a", "h1", "h2")],
    code: ViolationCode.cpu,
  },
];

describe("validatePlan", () => {
  for (const c of cases) {
    it(`flags ${c.name}`, () => {
      const v = validatePlan(c.s ?? base(), { steps: c.steps, nowMs: NOW });
      expect(v.map((x) => x.code)).toContain(c.code);
    });
  }
  it("accepts the same move when it waits for the departure", () => {
    const s = snap([host("h1"), host("h2", { cpuCapacityMhz: 1000 })], [vm("a", "h1", 800), vm("b", "h2", 800)]);
    expect(validatePlan(s, { steps: [mig(0, "b", "h2", "h1"), mig(1, "a", "h1", "h2", [0])], nowMs: NOW })).toEqual([]);
  });
});
