// Balancing end to end, and the cost model against the lab: a busy guest on an overloaded host is
// moved once by the automatic balancer; planning again proposes no move back; every migration's
// measured duration is within 30% of the duration the scheduler predicted for it, once the scheduler
// has measured a couple of this lab's migrations (it fits the cost model's constants to them: a TCG
// guest on a loaded 2-core machine migrates several times slower than on a quiet one).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiMigration, ApiPlan } from "@drover/protocol";
import { call, drover, until } from "./helpers/api.js";
import { migrations, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;
const busy = { busy: 1, dirtyMb: 4 };

beforeAll(async () => {
  d = await DroverLab.start({
    net: 32,
    hosts: 3,
    guests: [
      { name: "vm1", host: "h1", workload: busy },
      { name: "vm2", host: "h1", memoryMiB: 128, workload: busy },
      { name: "vm3", host: "h2", memoryMiB: 128 },
      { name: "vm4", host: "h3" },
    ],
    // A round every 20 s: reports (every 2 s) catch up with a move before the next round plans.
    // One migration at a time: the cost model predicts a migration alone on its link and hosts
    // (two at once on this 2-core machine each take about three times longer).
    scheduler: {
      policies: { balance: { mode: "automatic", everyMs: 20_000 } },
      limits: { perSource: 1, perDestination: 1, perCluster: 1 },
    },
  });
  await waitReady(d.api, 3, ["vm1", "vm2", "vm3", "vm4"]);
});

afterAll(async () => {
  await d?.stop();
});

describe("balance", () => {
  it("moves one busy guest off the overloaded host, once, and planning again moves nothing back", async () => {
    const moved = await until(
      "the balancer to move a busy guest off h1",
      async () => (await migrations(d.api)).find((m) => m.source === "h1" && (m.vm === "vm1" || m.vm === "vm2")),
      180_000,
    );
    expect(moved.requestedBy).toMatch(/plan|schedule/);
    const done = await waitMigrationDone(d.api, moved.id);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
    expect(await d.hostOf(done.vm)).toBe(done.destination);

    // Two more balance rounds later: that one move off h1, nothing back to h1, no VM moved twice;
    // and a fresh plan proposes no move back.
    await new Promise((r) => setTimeout(r, 45_000));
    const all = (await migrations(d.api)).filter((m) => m.state !== "cancelled" && m.state !== "failed");
    const moves = all.map((m) => `${m.vm} ${m.source}->${m.destination}`);
    expect(
      all.filter((m) => m.source === "h1").map((m) => m.id),
      JSON.stringify(moves),
    ).toEqual([done.id]);
    expect(
      all.filter((m) => m.destination === "h1"),
      JSON.stringify(moves),
    ).toEqual([]);
    expect(new Set(all.map((m) => m.vm)).size, JSON.stringify(moves)).toBe(all.length);
    const again = await call(d.api, "POST", "/v1/plan", ApiPlan, { kind: "balance" });
    expect(again.steps.filter((s) => s.kind === "migrate" && s.vm === done.vm)).toEqual([]);
    expect(again.steps.filter((s) => s.kind === "migrate" && s.destination === "h1")).toEqual([]);
  });

  it("predicts each lab migration's duration within 30% of what it measured", async () => {
    // Two operator moves of the idle guest: with the balancer's move (a busy, CPU-starved guest),
    // three measured migrations to learn from before the plan below is costed.
    for (let i = 0; i < 2; i++) {
      const at = (await vms(d.api)).find((v) => v.name === "vm4")?.host;
      const op = await drover(d.api, ["migrate", "vm4", ["h1", "h2", "h3"].find((h) => h !== at) as string, "--wait", "--json"]);
      expect(op.code, `${op.stdout}\n${op.stderr}`).toBe(0);
    }
    // A planned drain through the CLI (dry run, then approve): its moves are predicted now.
    const from = (await vms(d.api)).find((v) => v.name === "vm3")?.host as string;
    const dry = await drover(d.api, ["plan", "drain", from, "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = ApiPlan.parse(JSON.parse(dry.stdout));
    expect(plan.steps.filter((s) => s.kind === "migrate").length).toBeGreaterThan(0);
    for (const s of plan.steps) expect(s.predictedDurationMs, JSON.stringify(s)).not.toBeNull();
    const ok = await drover(d.api, ["plan", "approve", plan.id, "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    await until(
      "the approved plan's migrations to end",
      async () => {
        const ms = (await migrations(d.api)).filter((m) => m.planId === plan.id);
        return ms.length > 0 && ms.every((m) => !["queued", "preflight", "running"].includes(m.state)) ? ms : undefined;
      },
      240_000,
    );

    const planned = (await migrations(d.api)).filter((m) => m.state === "succeeded" && m.planId === plan.id);
    expect(planned.length).toBeGreaterThanOrEqual(1);
    const rows = planned.map((m) => ({ vm: m.vm, predicted: m.predictedDurationMs, measured: m.measuredDurationMs }));
    for (const r of rows) {
      expect(r.predicted, JSON.stringify(rows)).not.toBeNull();
      expect(r.measured, JSON.stringify(rows)).not.toBeNull();
      const err = Math.abs((r.predicted as number) - (r.measured as number)) / (r.measured as number);
      expect(err, `predicted vs measured (ms): ${JSON.stringify(rows)}`).toBeLessThanOrEqual(0.3);
    }
  });

  // Operator moves carry the cost model's prediction too (the dispatcher predicts what a plan did not).
  it("records a predicted and a measured duration for an operator's migration too", async () => {
    const from = (await vms(d.api)).find((v) => v.name === "vm4")?.host;
    const to = ["h1", "h2", "h3"].find((h) => h !== from) as string;
    const r = await drover(d.api, ["migrate", "vm4", to, "--wait", "--json"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const m = ApiMigration.parse(JSON.parse(r.stdout));
    expect(m.measuredDurationMs).not.toBeNull();
    expect(m.predictedDurationMs).not.toBeNull();
  });
});
