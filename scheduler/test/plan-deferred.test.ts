import { describe, expect, it } from "vitest";
import { ApiPlan } from "@drover/protocol";
import { harness, json, post } from "./harness.js";
import { uuid } from "./helpers.js";

describe("a plan's deferred steps", () => {
  it("are served one by one, in plan order, and stored as runs of steps deferred alike", async () => {
    const vms = [1, 2, 3, 4].map((i) => ({ uuid: uuid(i), name: `web${i}` }));
    await using h = await harness(
      ["a", "b"],
      { a: vms },
      {
        limits: { perSource: 5, perDestination: 5, perCluster: 1 },
        policies: {
          balance: { mode: "off" },
          consolidate: { mode: "off", args: { emptyWithoutPowerOff: true } },
          drain: { mode: "automatic" },
        },
      },
    );
    await h.report();
    const res = await post(h.url("/v1/plan"), { kind: "consolidate" });
    expect(res.status).toBe(200);
    const plan = ApiPlan.parse(await json(res));
    // a is emptied onto b (four moves); the cluster limit admits one, the other three wait.
    expect(plan.steps.map((s) => s.kind)).toEqual(["migrate"]);
    const reason = "cluster already has 1 migration(s) (limit 1)";
    expect(plan.deferred).toEqual([1, 2, 3].map((index) => ({ index, code: "limit.per-cluster", reason })));
    const stored = h.s.store.plans.get(plan.id)!.explanation as { deferred: unknown[] };
    expect(stored.deferred).toEqual([{ index: 1, to: 3, code: "limit.per-cluster", reason }]);
  });
});
