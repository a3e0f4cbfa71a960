// Modes changed at run time (`POST /v1/modes/{kind}`) and plans rejected (`POST /v1/plans/{id}/reject`):
// operator mutations, recorded in the history with the token that asked, a mode kept across a restart
// until the config file's policies change. Real nats-server, real SQLite, a running Scheduler.
import { describe, expect, it } from "vitest";
import { ApiError, ApiMaintenance, ApiPlan, HistoryResponse, ModesResponse, SchedulesResponse, StatusResponse } from "@drover/protocol";
import { TokenBook } from "../src/api/tokens.js";
import { get, harness, json, post, type Harness } from "./harness.js";
import { uuid } from "./helpers.js";

const modesNow = async (h: Harness) => StatusResponse.parse(await json(await get(h.url("/v1/status")))).modes;
const config = async (h: Harness) => HistoryResponse.parse(await json(await get(h.url("/v1/history?kind=config&limit=1000")))).entries;

function as(h: Harness, token: string, path: string, body?: unknown): Promise<Response> {
  return fetch(h.url(path), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
}

describe("modes at run time", () => {
  it("an operator changes a mode; the history names the token; it survives a restart; a config-file change wins", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] }, { policies: { balance: { mode: "recommend" } } });
    await h.report();
    const book = new TokenBook(h.s.store, () => h.clock.now());
    const ops = book.create("ops", "operator", "test").token;
    const viewer = book.create("watch", "viewer", "test").token;

    expect((await modesNow(h)).balance).toBe("recommend");
    const denied = await as(h, viewer, "/v1/modes/balance", { mode: "automatic" });
    expect(denied.status).toBe(403);
    const res = await as(h, ops, "/v1/modes/balance", { mode: "automatic" });
    expect(res.status).toBe(200);
    expect(ModesResponse.parse(await json(res)).modes.balance).toBe("automatic");
    expect((await modesNow(h)).balance).toBe("automatic");
    // The same mode again changes nothing and records nothing.
    expect((await as(h, ops, "/v1/modes/balance", { mode: "automatic" })).status).toBe(200);
    const changes = (await config(h)).filter((e) => e.summary.startsWith("config modes."));
    expect(changes.map((e) => [e.summary, e.requestedBy])).toEqual([
      ['config modes.balance: "recommend" -> "automatic" [api:ops]', "api:ops"],
    ]);

    await h.restart();
    expect((await modesNow(h)).balance).toBe("automatic");
    await as(h, ops, "/v1/modes/consolidate", { mode: "recommend" });
    expect((await modesNow(h)).consolidate).toBe("recommend");

    // The config file's policies change: the file (consolidate off by default) wins from that start on.
    h.cfg.policies = { balance: { mode: "off" } };
    await h.restart();
    expect(await modesNow(h)).toMatchObject({ balance: "off", consolidate: "off" });
  });

  it("refuses a bad policy or mode naming the field, and changes nothing", async () => {
    await using h = await harness(["a"], {});
    const before = await modesNow(h);
    for (const [path, body, field] of [
      ["/v1/modes/power", { mode: "off" }, "params.kind"],
      ["/v1/modes/shuffle", { mode: "off" }, "params.kind"],
      ["/v1/modes/balance", { mode: "sometimes" }, "body.mode"],
      ["/v1/modes/balance", {}, "body.mode"],
      ["/v1/modes/balance", { mode: "off", extra: 1 }, "body.extra"],
    ] as const) {
      const r = await post(h.url(path), body);
      expect(r.status, path).toBe(400);
      expect(ApiError.parse(await json(r)).error.issues.map((i) => i.field)).toContain(field);
    }
    expect(await modesNow(h)).toEqual(before);
    expect((await config(h)).filter((e) => e.summary.startsWith("config modes."))).toEqual([]);
  });
});

describe("drain mode at run time", () => {
  it("off refuses drains, recommend makes a drain wait for approval: the run-time mode, not the file's, decides", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    expect((await modesNow(h)).drain).toBe("automatic");
    expect((await post(h.url("/v1/modes/drain"), { mode: "off" })).status).toBe(200);
    const refused = await post(h.url("/v1/hosts/a/drain"), {});
    expect(refused.status).toBe(409);
    expect(ApiError.parse(await json(refused)).error.code).toBe("mode-off");

    expect((await post(h.url("/v1/modes/drain"), { mode: "recommend" })).status).toBe(200);
    const started = await post(h.url("/v1/hosts/a/drain"), {});
    expect(started.status).toBeLessThan(300);
    const m = ApiMaintenance.parse(await json(started));
    const plans = ApiPlan.array().parse(((await json(await get(h.url("/v1/plans?limit=10")))) as { plans: unknown[] }).plans);
    const drainPlan = plans.find((p) => p.kind === "drain");
    expect(drainPlan?.status, "the drain's plan waits for approval").toBe("proposed");
    expect(h.agents.count("migrate")).toBe(0);
    expect(m.host).toBe("a");
    const changes = (await config(h)).filter((e) => e.summary.startsWith("config modes.drain"));
    expect(changes.map((e) => e.summary).sort()).toEqual([
      'config modes.drain: "automatic" -> "off" [api:test-admin]',
      'config modes.drain: "off" -> "recommend" [api:test-admin]',
    ]);
    await h.restart();
    expect((await modesNow(h)).drain).toBe("recommend");
  });
});

describe("schedules at run time", () => {
  const status = async (h: Harness) => StatusResponse.parse(await json(await get(h.url("/v1/status")))).consolidationWindow;

  it("an operator moves the consolidation window; the history names who; it survives a restart; a config-file change wins", async () => {
    await using h = await harness(["a"], {});
    expect(await status(h)).toMatchObject({ start: "22:00", end: "06:00" });
    const res = await post(h.url("/v1/schedules/consolidate"), { start: "01:00", end: "05:30", days: "mon-fri" });
    expect(res.status).toBe(200);
    expect(SchedulesResponse.parse(await json(res)).schedules.consolidate).toEqual({
      start: "01:00",
      end: "05:30",
      days: "mon-fri",
      timezone: "utc",
      restoreBeforeEndMs: 30 * 60_000,
      restoreMarginMs: 5 * 60_000,
    });
    expect(await status(h)).toMatchObject({ start: "01:00", end: "05:30" });
    // The same window again records nothing.
    expect((await post(h.url("/v1/schedules/consolidate"), { start: "01:00", end: "05:30", days: "mon-fri" })).status).toBe(200);
    const changes = (await config(h)).filter((e) => e.summary.startsWith("config schedules."));
    expect(changes.map((e) => e.requestedBy)).toEqual(["api:test-admin"]);
    expect(changes[0]!.summary).toContain('"start":"01:00"');

    await h.restart();
    expect(await status(h)).toMatchObject({ start: "01:00", end: "05:30" });
    h.cfg.policies = { consolidate: { window: { start: "23:00", end: "04:00" } } };
    await h.restart();
    expect(await status(h)).toMatchObject({ start: "23:00", end: "04:00" });
  });

  it("refuses a bad window or kind naming the field, and changes nothing", async () => {
    await using h = await harness(["a"], {});
    for (const [path, body, field] of [
      ["/v1/schedules/balance", { start: "01:00", end: "02:00" }, "params.kind"],
      ["/v1/schedules/consolidate", { start: "25:00", end: "02:00" }, "body.start"],
      ["/v1/schedules/consolidate", { start: "01:00" }, "body.end"],
      ["/v1/schedules/consolidate", { start: "01:00", end: "02:00", days: "weekdays" }, "body.days"],
      ["/v1/schedules/consolidate", { start: "01:00", end: "02:00", restoreBeforeEndMs: -1 }, "body.restoreBeforeEndMs"],
    ] as const) {
      const r = await post(h.url(path), body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(ApiError.parse(await json(r)).error.issues.map((i) => i.field)).toContain(field);
    }
    expect(await status(h)).toMatchObject({ start: "22:00", end: "06:00" });
    expect((await config(h)).filter((e) => e.summary.startsWith("config schedules."))).toEqual([]);
  });
});

describe("plan reject", () => {
  it("rejects a proposed plan (nothing runs, history names who); refuses a second decision and an unknown plan", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const plan = ApiPlan.parse(await json(await post(h.url("/v1/plan"), { kind: "drain", host: "a" })));
    expect(plan.status).toBe("proposed");
    const res = await post(h.url(`/v1/plans/${plan.id}/reject`));
    expect(res.status).toBe(200);
    expect(ApiPlan.parse(await json(res))).toMatchObject({ id: plan.id, status: "rejected", decidedBy: "api:test-admin" });
    expect((await post(h.url(`/v1/plans/${plan.id}/approve`))).status).toBe(409);
    const again = await post(h.url(`/v1/plans/${plan.id}/reject`));
    expect(again.status).toBe(409);
    expect(ApiError.parse(await json(again)).error.code).toBe("plan-not-proposed");
    expect((await post(h.url("/v1/plans/no-such-plan/reject"))).status).toBe(404);
    expect((await post(h.url(`/v1/plans/${plan.id}/reject`), { why: "no" })).status).toBe(400);
    expect(h.agents.count("migrate")).toBe(0);
    const hist = HistoryResponse.parse(await json(await get(h.url("/v1/history?kind=plan")))).entries;
    expect(hist.find((e) => e.id === plan.id)!.summary).toMatch(/: rejected: .*, rejected by api:test-admin\]$/);
  });
});
