// Who may call what: every route of the served OpenAPI document is tried without a token, with a
// bad, a revoked and a lesser token, and with the role it declares; tokens made and revoked through
// the API; who asked recorded in the history.
import { describe, expect, it } from "vitest";
import { ApiError, ApiMigration, ApiRoles, ApiToken, HistoryResponse, TokenCreated, TokensResponse } from "@drover/protocol";
import { TokenBook } from "../src/api/tokens.js";
import { harness, json, get } from "./harness.js";
import { memoryLogger } from "@drover/protocol/testing";
import { uuid } from "./helpers.js";

const bearer = (t: string | undefined): Record<string, string> => (t === undefined ? {} : { authorization: `Bearer ${t}` });

describe("API tokens and roles", () => {
  it("refuses every route of the OpenAPI document without a valid token (401) or with a lesser role (403)", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const book = new TokenBook(h.s.store, () => h.clock.now());
    const tokens = {
      viewer: book.create("v", "viewer", "test").token,
      operator: book.create("o", "operator", "test").token,
      admin: h.token,
    };
    const revoked = book.create("gone", "admin", "test").token;
    book.revoke("gone", "test");

    const doc = await json(await get(h.url("/openapi.json")));
    expect(doc.components.securitySchemes.bearer).toEqual({ type: "http", scheme: "bearer" });
    const ops = Object.entries(doc.paths as Record<string, Record<string, { security?: { bearer?: string[] }[] }>>).flatMap(
      ([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    expect(ops.length).toBeGreaterThanOrEqual(21);
    const seen: Record<string, string> = {};
    for (const { path, method, op } of ops) {
      const what = `${method} ${path}`;
      const role = op.security?.[0]?.bearer?.[0];
      // A route without a declared role fails here (and the server refuses to register it).
      expect([what, ApiRoles.includes(role as never)]).toEqual([what, true]);
      seen[what] = role!;
      // Path parameters that match nothing, and an empty body: with the right role the handler
      // answers 2xx or a 4xx about the input, and changes nothing.
      const url = h.url(path.replace("{id}", "nope-1").replace("{name}", "nobody"));
      const call = (t: string | undefined, headers: Record<string, string> = {}) =>
        fetch(url, {
          method,
          headers: { ...bearer(t), ...headers, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
          ...(method === "POST" ? { body: "{}" } : {}),
        });
      for (const [label, res] of [
        ["no token", await call(undefined)],
        ["unknown token", await call("drover_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        ["revoked token", await call(revoked)],
        ["not a bearer", await call(undefined, { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` })],
      ] as const) {
        expect([what, label, res.status]).toEqual([what, label, 401]);
        expect(ApiError.parse(await json(res)).error.code).toBe("unauthorized");
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      }
      for (const lesser of ApiRoles.slice(0, ApiRoles.indexOf(role as never))) {
        const res = await call(tokens[lesser]);
        expect([what, lesser, res.status]).toEqual([what, lesser, 403]);
        expect(ApiError.parse(await json(res)).error.message).toContain(`needs ${role}`);
      }
      const ok = await call(tokens[role as keyof typeof tokens]);
      expect([what, role, [401, 403].includes(ok.status)]).toEqual([what, role, false]);
      await ok.arrayBuffer();
    }
    // The decisions, so that changing one is a visible change.
    expect(seen).toMatchObject({
      "GET /v1/status": "viewer",
      "GET /metrics": "viewer",
      "POST /v1/plan": "operator",
      "POST /v1/plans/{id}/approve": "operator",
      "POST /v1/plans/{id}/reject": "operator",
      "POST /v1/modes/{kind}": "operator",
      "POST /v1/migrations": "operator",
      "POST /v1/hosts/{id}/drain": "operator",
      "POST /v1/hosts/{id}/undrain": "operator",
      "POST /v1/hosts/{id}/power": "admin",
      "GET /v1/tokens": "admin",
      "POST /v1/tokens": "admin",
      "POST /v1/tokens/{name}/revoke": "admin",
    });
    // Outside the document: the document itself and unknown routes need a token too.
    expect((await fetch(h.url("/openapi.json"))).status).toBe(401);
    expect((await fetch(h.url("/v1/nothing"))).status).toBe(401);
    expect((await fetch(h.url("/v1/nothing"), { headers: bearer(tokens.viewer) })).status).toBe(404);
    expect(h.s.store.migrations.list()).toEqual([]);
    expect(h.s.store.plans.list()).toEqual([]);
    expect(h.s.store.maintenance.list()).toEqual([]);
    expect(h.agents.received.filter((c) => c.kind !== "status")).toEqual([]);
  });

  it("makes a token through the API (shown once), records who asked in the history, and revokes it at once", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const admin = { ...bearer(h.token), "content-type": "application/json" };
    const res = await fetch(h.url("/v1/tokens"), {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "alice", role: "operator" }),
    });
    expect(res.status).toBe(201);
    const made = TokenCreated.parse(await json(res));
    expect(made).toMatchObject({ name: "alice", role: "operator", revokedAtMs: null });
    const alice = { ...bearer(made.token), "content-type": "application/json" };

    const m = ApiMigration.parse(
      await json(await fetch(h.url("/v1/migrations"), { method: "POST", headers: alice, body: JSON.stringify({ vm: "web1", host: "b" }) })),
    );
    expect(m.requestedBy).toBe("api:alice");
    await expect
      .poll(() => h.s.store.migrations.get(m.id)!.status === "succeeded", { timeout: 15_000, interval: 20, message: "move done" })
      .toBe(true);

    const listed = await (await get(h.url("/v1/tokens"))).text();
    expect(listed).not.toContain(made.token);
    expect(TokensResponse.parse(JSON.parse(listed)).tokens.map((t) => [t.name, t.role, t.lastUsedAtMs !== null])).toEqual([
      ["test-admin", "admin", true],
      ["alice", "operator", true],
    ]);
    const dup = await fetch(h.url("/v1/tokens"), {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "alice", role: "viewer" }),
    });
    expect([dup.status, ApiError.parse(await json(dup)).error.code]).toEqual([409, "conflict"]);
    const badName = await fetch(h.url("/v1/tokens"), {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ name: "Bob Smith", role: "root" }),
    });
    expect(ApiError.parse(await json(badName)).error.issues.map((i) => i.field)).toEqual(["body.name", "body.role"]);

    const gone = ApiToken.parse(await json(await fetch(h.url("/v1/tokens/alice/revoke"), { method: "POST", headers: admin, body: "{}" })));
    expect(gone.revokedAtMs).not.toBeNull();
    const after = await fetch(h.url("/v1/status"), { headers: alice });
    expect([after.status, ApiError.parse(await json(after)).error.message]).toEqual([401, 'token "alice" was revoked']);

    const hist = HistoryResponse.parse(await json(await get(h.url("/v1/history"))));
    const by = hist.entries.map((e) => [e.kind, e.requestedBy, e.summary.includes(made.token)]);
    expect(by).toEqual(
      expect.arrayContaining([
        ["migration", "api:alice", false],
        ["config", "api:test-admin", false],
      ]),
    );
    expect(hist.entries.filter((e) => e.summary.startsWith("config api.tokens.")).map((e) => e.summary)).toEqual([
      'config api.tokens.alice: {"role":"operator"} -> "revoked" [api:test-admin]',
      'config api.tokens.alice: null -> {"role":"operator"} [api:test-admin]',
      'config api.tokens.test-admin: null -> {"role":"admin"} [test]',
    ]);
  });

  it("counts refused tokens by reason and logs them per client once per interval, never a secret", async () => {
    const log = memoryLogger();
    await using h = await harness(["a"], {}, {}, { logger: log });
    const book = new TokenBook(h.s.store, () => h.clock.now());
    const viewer = book.create("v", "viewer", "test").token;
    const revoked = book.create("gone", "admin", "test").token;
    book.revoke("gone", "test");
    const unknown = "drover_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const status = (headers: Record<string, string>) => fetch(h.url("/v1/status"), { headers }).then((r) => r.status);
    // Without http.trustProxy a client cannot choose the address it is logged by.
    expect(await status({ "x-forwarded-for": "192.0.2.9" })).toBe(401);
    expect(await status({})).toBe(401);
    expect(await status({ authorization: "Basic YTpi" })).toBe(401);
    expect(await status(bearer(unknown))).toBe(401);
    expect(await status(bearer(revoked))).toBe(401);
    const forbidden = await fetch(h.url("/v1/tokens"), { headers: bearer(viewer) });
    expect(forbidden.status).toBe(403);

    const metrics = await (await get(h.url("/metrics"))).text();
    for (const [reason, n] of [
      ["no-token", 2],
      ["malformed", 1],
      ["unknown", 1],
      ["revoked", 1],
      ["forbidden", 1],
    ] as const)
      expect(metrics).toContain(`drover_api_auth_failures_total{reason="${reason}"} ${n}`);
    const refusedLines = () => log.entries.filter((l) => l.msg.startsWith("refused "));
    // The first refusal from a client is logged at once; the rest wait for the interval.
    expect(refusedLines().map((l) => l.msg)).toEqual(["refused 1 API requests from 127.0.0.1: no-token"]);
    expect(refusedLines()[0]!.obj).toMatchObject({ client: "127.0.0.1", count: 1, request: "GET /v1/status" });
    h.clock.advance(h.s.config.reports.dropLogIntervalMs);
    await h.s.tick();
    expect(refusedLines()).toHaveLength(2);
    expect(refusedLines()[1]!.obj).toMatchObject({
      count: 5,
      refused: { "no-token": 1, malformed: 1, unknown: 1, revoked: 1, forbidden: 1 },
      // What the last one said: the request and the token's name.
      request: "GET /v1/tokens",
      token: "v",
    });
    const logged = JSON.stringify(log.entries);
    for (const secret of [viewer, revoked, unknown]) expect(logged).not.toContain(secret);
  });

  it("logs a refusal through a trusted proxy by the client the proxy names, the nearest untrusted address", async () => {
    const log = memoryLogger();
    await using h = await harness(["a"], {}, { http: { host: "127.0.0.1", port: 0, trustProxy: ["127.0.0.0/8"] } }, { logger: log });
    // A client wrote the first entry itself; the proxy appended who really connected to it.
    const res = await fetch(h.url("/v1/status"), { headers: { "x-forwarded-for": "198.51.100.1, 192.0.2.9" } });
    expect(res.status).toBe(401);
    const refused = log.entries.filter((l) => l.msg.startsWith("refused "));
    expect(refused.map((l) => l.msg)).toEqual(["refused 1 API requests from 192.0.2.9: no-token"]);
  });

  it("makes a token that expires: refused from then on, named in the answer and counted; a time past is refused", async () => {
    await using h = await harness(["a"], {});
    const admin = { ...bearer(h.token), "content-type": "application/json" };
    const make = (body: object) => fetch(h.url("/v1/tokens"), { method: "POST", headers: admin, body: JSON.stringify(body) });
    const past = await make({ name: "old", role: "viewer", expiresAtMs: h.clock.now() });
    expect(past.status).toBe(400);
    expect(ApiError.parse(await json(past)).error.issues).toEqual([
      { field: "body.expiresAtMs", message: expect.stringMatching(/^expiresAtMs: must be a time in the future/) },
    ]);
    // One that could never be shown (a Date cannot hold it) is refused too.
    const never = await make({ name: "forever", role: "viewer", expiresAtMs: 9e15 });
    expect([never.status, ApiError.parse(await json(never)).error.issues[0]?.field]).toEqual([400, "body.expiresAtMs"]);
    const until = h.clock.now() + 3_600_000;
    const made = TokenCreated.parse(await json(await make({ name: "ci", role: "viewer", expiresAtMs: until })));
    expect(made.expiresAtMs).toBe(until);
    const ci = bearer(made.token);
    expect((await fetch(h.url("/v1/status"), { headers: ci })).status).toBe(200);
    h.clock.advance(3_600_000 - 1);
    expect((await fetch(h.url("/v1/status"), { headers: ci })).status).toBe(200);
    h.clock.advance(1);
    const after = await fetch(h.url("/v1/status"), { headers: ci });
    expect([after.status, ApiError.parse(await json(after)).error.message]).toEqual([
      401,
      `token "ci" expired at ${new Date(until).toISOString()}`,
    ]);
    const listed = TokensResponse.parse(await json(await get(h.url("/v1/tokens"))));
    expect(listed.tokens.map((t) => [t.name, t.expiresAtMs])).toEqual([
      ["test-admin", null],
      ["ci", until],
    ]);
    expect(await (await get(h.url("/metrics"))).text()).toContain('drover_api_auth_failures_total{reason="expired"} 1');
    // Recorded with its expiry, as a config change.
    const hist = HistoryResponse.parse(await json(await get(h.url("/v1/history"))));
    expect(hist.entries.map((e) => e.summary)).toContain(
      `config api.tokens.ci: null -> {"role":"viewer","expiresAtMs":${until}} [api:test-admin]`,
    );
  });
});
