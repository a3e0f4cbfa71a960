// Balancing end to end, and the cost model learning from the lab: a busy guest on an overloaded host
// is moved once by the automatic balancer; planning again proposes no move back; every migration
// carries a prediction, and once the scheduler measured a couple of this lab's migrations its plans
// predict with constants fitted to them (a TCG guest on a loaded 2-core machine migrates several
// times slower than on a quiet one). How close the predictions come is measured by
// `npm run bench:cost-model`, not asserted here: it depends on the machine's load.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration, ApiPlan, ModesResponse } from "@drover/protocol";
import { call, drover } from "./helpers/api.js";
import { BALANCE_EVERY_MS, HOSTS, balanceScenario, startBalancing } from "./helpers/balance-scenario.js";
import { migrations, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

/** 127.0.32.x: this file's own lab net. */
const NET = 32;
let d: DroverLab;
/** vm3's predicted move off its host before the scheduler measured any migration: the configured model. */
let configuredPrediction: number | null;

/**
 * What a dry-run drain of vm3's host predicts for vm3's move. Just after boot the plan may have no
 * room for vm3: the load the scheduler plans with still holds the guests' boot (a TCG boot keeps a
 * vCPU busy, and longer on a slower machine), so every other host can look full for a while.
 */
async function vm3Prediction(): Promise<number | null> {
  return vi.waitFor(
    async () => {
      const from = (await vms(d.api)).find((v) => v.name === "vm3")?.host as string;
      const plan = await call(d.api, "POST", "/v1/plan", ApiPlan, { kind: "drain", host: from });
      const step = plan.steps.find((s) => s.kind === "migrate" && s.vm === "vm3");
      if (!step)
        throw new Error(`waiting for a drain of ${from} to move vm3: ${JSON.stringify({ steps: plan.steps, notMoved: plan.notMoved })}`);
      return step.predictedDurationMs;
    },
    { timeout: 90_000, interval: 2000 },
  );
}

beforeAll(async () => {
  d = await DroverLab.start(balanceScenario(NET));
  await waitReady(d.api, 3, ["vm1", "vm2", "vm3", "vm4"]);
  // No move measured yet (the balancer starts below), so nothing fitted yet.
  configuredPrediction = await vm3Prediction();
  await startBalancing(d.api);
});

afterAll(async () => {
  await d?.stop();
});

describe("balance", () => {
  it("moves one busy guest off the overloaded host, once, and planning again moves nothing back", async () => {
    const moved = await vi.waitFor(
      async () => {
        const m = (await migrations(d.api)).find((x) => x.source === "h1" && (x.vm === "vm1" || x.vm === "vm2"));
        if (!m) throw new Error("waiting for the balancer to move a busy guest off h1");
        return m;
      },
      { timeout: 180_000, interval: 1000 },
    );
    expect(moved.requestedBy).toMatch(/plan|schedule/);
    const done = await waitMigrationDone(d.api, moved.id);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
    expect(await d.hostOf(done.vm)).toBe(done.destination);

    // Two more balance rounds later: that one move off h1, nothing back to h1, no VM moved twice;
    // and a fresh plan proposes no move back. A round that proposes nothing leaves no trace to wait
    // on, so this waits for the time two rounds take (the next is due within one period of the move's
    // end), with half a period for a late tick.
    await new Promise((r) => setTimeout(r, 2.5 * BALANCE_EVERY_MS));
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

  it("records a prediction for every move, and plans after measured moves use constants fitted to them", async () => {
    // The balancer has done its part (the last test): off from here, so no move of its own takes a
    // guest the operator's moves below name, and whatever it still runs ends first.
    await call(d.api, "POST", "/v1/modes/balance", ModesResponse, { mode: "off" });
    await vi.waitFor(
      async () => {
        const open = (await migrations(d.api)).filter((m) => ["queued", "preflight", "running"].includes(m.state));
        if (open.length > 0) throw new Error(`waiting for the balancer's moves to end: ${open.map((m) => m.vm).join(", ")}`);
      },
      { timeout: 240_000, interval: 1000 },
    );
    // Two operator moves of the idle guest: with the balancer's, measured moves to learn from.
    for (let i = 0; i < 2; i++) {
      const at = (await vms(d.api)).find((v) => v.name === "vm4")?.host;
      const op = await drover(d.api, ["migrate", "vm4", HOSTS.find((h) => h !== at) as string, "--wait", "--json"]);
      expect(op.code, `${op.stdout}\n${op.stderr}`).toBe(0);
    }
    // A planned drain through the CLI (dry run, then approve): its moves are predicted by the plan.
    const from = (await vms(d.api)).find((v) => v.name === "vm3")?.host as string;
    const dry = await drover(d.api, ["plan", "drain", from, "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = ApiPlan.parse(JSON.parse(dry.stdout));
    expect(plan.steps.filter((s) => s.kind === "migrate").length).toBeGreaterThan(0);
    for (const s of plan.steps) expect(s.predictedDurationMs, JSON.stringify(s)).not.toBeNull();
    // The scheduler fitted its constants to the measured moves, and the plan priced vm3's move with them.
    const log = await readFile(d.schedulerLog(), "utf8");
    const learned = log
      .split("\n")
      .filter((l) => l.includes('"msg":"cost model learned from a measured migration"'))
      .map((l) => (JSON.parse(l) as { learned: unknown }).learned);
    expect(learned.length, "measured moves the cost model learned from").toBeGreaterThanOrEqual(2);
    expect(learned.at(-1), "fitted constants after two measured moves").not.toBeNull();
    const vm3Step = plan.steps.find((s) => s.kind === "migrate" && s.vm === "vm3");
    expect(vm3Step?.predictedDurationMs).not.toBe(configuredPrediction);

    const ok = await drover(d.api, ["plan", "approve", plan.id, "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    await vi.waitFor(
      async () => {
        const ms = (await migrations(d.api)).filter((m) => m.planId === plan.id);
        const open = ms.filter((m) => ["queued", "preflight", "running"].includes(m.state));
        if (ms.length === 0 || open.length > 0)
          throw new Error(`waiting for the approved plan's migrations to end: ${open.map((m) => m.vm).join(", ")}`);
      },
      { timeout: 240_000, interval: 1000 },
    );

    // Every move that ran, whoever asked for it, carries what was predicted and what was measured.
    const ran = (await migrations(d.api)).filter((m) => m.state === "succeeded");
    expect(ran.filter((m) => m.planId === plan.id).length).toBeGreaterThanOrEqual(1);
    const rows = ran.map((m) => ({ vm: m.vm, by: m.requestedBy, predicted: m.predictedDurationMs, measured: m.measuredDurationMs }));
    for (const r of rows) {
      expect(r.predicted, JSON.stringify(rows)).not.toBeNull();
      expect(r.measured, JSON.stringify(rows)).not.toBeNull();
    }
  });

  // Operator moves carry the cost model's prediction too (the dispatcher predicts what a plan did not).
  it("records a predicted and a measured duration for an operator's migration too", async () => {
    const from = (await vms(d.api)).find((v) => v.name === "vm4")?.host;
    const to = HOSTS.find((h) => h !== from) as string;
    const r = await drover(d.api, ["migrate", "vm4", to, "--wait", "--json"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const m = ApiMigration.parse(JSON.parse(r.stdout));
    expect(m.measuredDurationMs).not.toBeNull();
    expect(m.predictedDurationMs).not.toBeNull();
  });
});
