import { describe, expect, it } from "vitest";
import {
  ApiError,
  ApiMigration,
  HostReport,
  HostsResponse,
  StatusResponse,
  VmsResponse,
  ApiPlan,
  HistoryResponse,
  subjects,
} from "@drover/protocol";
import { harness, json, post, get } from "./harness.js";
import { CLUSTER, report, uuid } from "./helpers.js";

describe("HTTP API", () => {
  it("serves status, hosts, vms, a move with progress, history, metrics and the OpenAPI document", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const status = StatusResponse.parse(await json(await get(h.url("/v1/status"))));
    expect(status.hosts.byState).toEqual({ healthy: 2 });
    expect(status.vms).toBe(1);
    const hosts = HostsResponse.parse(await json(await get(h.url("/v1/hosts"))));
    expect(hosts.hosts.map((x) => [x.id, x.vmCount])).toEqual([
      ["a", 1],
      ["b", 0],
    ]);
    const vms = VmsResponse.parse(await json(await get(h.url("/v1/vms"))));
    expect(vms.vms[0]).toMatchObject({ name: "web1", host: "a", alsoOn: [] });

    const res = await post(h.url("/v1/migrations"), { vm: "web1", host: "b" });
    expect(res.status).toBe(202);
    const m = ApiMigration.parse(await json(res));
    await expect
      .poll(async () => ApiMigration.parse(await json(await get(h.url(`/v1/migrations/${m.id}`)))).state, {
        timeout: 15_000,
        interval: 20,
        message: "move done",
      })
      .toBe("succeeded");
    const done = ApiMigration.parse(await json(await get(h.url(`/v1/migrations/${m.id}`))));
    expect(done).toMatchObject({ source: "a", destination: "b", requestedBy: "api:test-admin", measuredDowntimeMs: 5, vmRunningOn: "b" });

    const hist = HistoryResponse.parse(await json(await get(h.url("/v1/history?kind=migration"))));
    expect(hist.entries[0]).toMatchObject({ id: m.id, kind: "migration", outcome: "succeeded" });
    const metrics = await (await get(h.url("/metrics"))).text();
    expect(metrics).toMatch(/drover_migrations_total\{outcome="succeeded",strategy="[a-z-]+"\} 1/);
    expect(metrics).toMatch(/drover_reports_total 2/);
    const doc = await json(await get(h.url("/openapi.json")));
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/status", "/v1/plan", "/v1/migrations", "/v1/hosts/{id}/drain", "/v1/hosts/{id}/power", "/v1/history"]),
    );
    expect(doc.paths["/v1/migrations"].post.requestBody.content["application/json"].schema.required).toEqual(["vm"]);
  });

  it("lists a moved VM on its destination from the move's result, whatever the source reports before the destination does", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    h.agents.behaviour = { ...h.agents.behaviour, unverified: true };
    const m = ApiMigration.parse(await json(await post(h.url("/v1/migrations"), { vm: "web1", host: "b" })));
    const state = async () => ApiMigration.parse(await json(await get(h.url(`/v1/migrations/${m.id}`)))).state;
    await expect.poll(state, { timeout: 15_000, interval: 20, message: "move done" }).toBe("succeeded");
    const where = async () => VmsResponse.parse(await json(await get(h.url("/v1/vms")))).vms.map((v) => [v.name, v.host, v.alsoOn]);
    expect(await where()).toEqual([["web1", "b", []]]);
    // A report from the source read before the move ended, still listing the VM.
    const before = h.s.state.counters.reports;
    h.agents.bus.publish(subjects.hostReport(CLUSTER, "a"), HostReport, report("a", [{ uuid: uuid(1), name: "web1" }], h.clock.now()));
    await expect.poll(() => h.s.state.counters.reports, { timeout: 15_000, interval: 20 }).toBe(before + 1);
    expect(await where()).toEqual([["web1", "b", []]]);
    // The source's next one, without it, before the destination's: the VM is not dropped.
    h.clock.advance(1000);
    await h.report(["a"]);
    expect(await where()).toEqual([["web1", "b", []]]);
    await h.report(["b"]);
    expect(await where()).toEqual([["web1", "b", []]]);
  });

  it("answers bad input with a 4xx naming what is wrong, and changes nothing", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const cases: { name: string; req: () => Promise<Response>; status: number; field?: string; code?: string }[] = [
      { name: "malformed JSON", req: () => post(h.url("/v1/migrations"), undefined, "{not json"), status: 400, field: "body" },
      { name: "missing field", req: () => post(h.url("/v1/migrations"), { vm: "web1" }), status: 400, field: "body.host" },
      { name: "wrong type", req: () => post(h.url("/v1/migrations"), { vm: 7, host: "b" }), status: 400, field: "body.vm" },
      {
        name: "extra field",
        req: () => post(h.url("/v1/migrations"), { vm: "web1", host: "b", now: true }),
        status: 400,
        field: "body.now",
      },
      {
        name: "unknown VM",
        req: () => post(h.url("/v1/migrations"), { vm: "nope", host: "b" }),
        status: 400,
        field: "body.vm",
        code: "unknown-vm",
      },
      {
        name: "unknown destination",
        req: () => post(h.url("/v1/migrations"), { vm: "web1", host: "zz" }),
        status: 400,
        field: "body.host",
        code: "unknown-host",
      },
      { name: "same host", req: () => post(h.url("/v1/migrations"), { vm: "web1", host: "a" }), status: 409, code: "same-host" },
      { name: "plan kind", req: () => post(h.url("/v1/plan"), { kind: "shuffle" }), status: 400, field: "body.kind" },
      { name: "drain plan without host", req: () => post(h.url("/v1/plan"), { kind: "drain" }), status: 400, field: "body.host" },
      {
        name: "drain plan unknown host",
        req: () => post(h.url("/v1/plan"), { kind: "drain", host: "zz" }),
        status: 400,
        field: "body.host",
      },
      { name: "approve unknown plan", req: () => post(h.url("/v1/plans/plan-x/approve")), status: 404, field: "params.id" },
      { name: "drain unknown host", req: () => post(h.url("/v1/hosts/zz/drain"), {}), status: 404, field: "params.id" },
      { name: "drain wrong type", req: () => post(h.url("/v1/hosts/a/drain"), { powerOff: "yes" }), status: 400, field: "body.powerOff" },
      { name: "undrain not drained", req: () => post(h.url("/v1/hosts/a/undrain")), status: 409, code: "not-in-maintenance" },
      { name: "power bad action", req: () => post(h.url("/v1/hosts/a/power"), { action: "reboot" }), status: 400, field: "body.action" },
      { name: "power unknown host", req: () => post(h.url("/v1/hosts/zz/power"), { action: "off" }), status: 404, field: "params.id" },
      { name: "bad host id", req: () => post(h.url("/v1/hosts/a.b/power"), { action: "off" }), status: 400, field: "params.id" },
      { name: "unknown migration", req: () => get(h.url("/v1/migrations/mig-nope")), status: 404, field: "params.id" },
      { name: "unknown maintenance", req: () => get(h.url("/v1/maintenance/mnt-nope")), status: 404, field: "params.id" },
      { name: "history limit type", req: () => get(h.url("/v1/history?limit=lots")), status: 400, field: "query.limit" },
      { name: "unknown route", req: () => get(h.url("/v1/nothing")), status: 404 },
    ];
    for (const c of cases) {
      const res = await c.req();
      const body = ApiError.parse(await json(res));
      expect([c.name, res.status]).toEqual([c.name, c.status]);
      if (c.field) expect([c.name, body.error.issues.map((i) => i.field)]).toEqual([c.name, expect.arrayContaining([c.field])]);
      if (c.code) expect([c.name, body.error.code]).toEqual([c.name, c.code]);
      expect(body.error.message.length).toBeGreaterThan(0);
    }
    expect(h.s.store.migrations.list()).toEqual([]);
    expect(h.s.store.maintenance.list()).toEqual([]);
    expect(h.s.store.plans.list()).toEqual([]);
    expect(h.agents.received.filter((c) => c.kind !== "status")).toEqual([]);
  });

  it("stores a dry-run plan that can be approved", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const res = await post(h.url("/v1/plan"), { kind: "drain", host: "a" });
    expect(res.status).toBe(200);
    const plan = ApiPlan.parse(await json(res));
    expect(plan.status).toBe("proposed");
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]).toMatchObject({ kind: "migrate", vm: "web1", source: "a", destination: "b", state: "pending" });
    expect(plan.steps[0]!.reason.length).toBeGreaterThan(0);
    expect(plan.steps[0]!.cost).toBeGreaterThan(0);
    expect(h.agents.count("migrate")).toBe(0);
    const ok = ApiPlan.parse(await json(await post(h.url(`/v1/plans/${plan.id}/approve`))));
    expect(["running", "done"]).toContain(ok.status);
    await expect.poll(() => h.s.store.plans.get(plan.id)!.status, { timeout: 15_000, interval: 20, message: "plan done" }).toBe("done");
    expect(h.s.state.vm("web1")!.host).toBe("b");
    const again = await post(h.url(`/v1/plans/${plan.id}/approve`));
    expect(again.status).toBe(409);
  });

  it("expires a plan nobody decided on within planTtlMs, and no longer offers it", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const plan = ApiPlan.parse(await json(await post(h.url("/v1/plan"), { kind: "drain", host: "a" })));
    const statusOf = async () => ApiPlan.parse(await json(await get(h.url(`/v1/plans/${plan.id}`)))).status;
    h.clock.advance(h.s.config.planTtlMs);
    await h.s.tick();
    expect(await statusOf()).toBe("proposed");
    h.clock.advance(1);
    await h.s.tick();
    expect(await statusOf()).toBe("expired");
    const late = await post(h.url(`/v1/plans/${plan.id}/approve`));
    expect(late.status).toBe(409);
    expect((await json(late)).error.message).toBe(`plan ${plan.id} is expired; only a proposed plan can be approved`);
    expect(h.agents.count("migrate")).toBe(0);
    // The history says the same, not the store's "rejected" with no one who rejected it.
    const entry = HistoryResponse.parse(await json(await get(h.url("/v1/history?kind=plan")))).entries.find((e) => e.id === plan.id)!;
    expect(entry.outcome).toBe("expired");
    expect(entry.summary).toMatch(/^plan drain \(dry-run, 1 step\): expired: /);
  });
});
