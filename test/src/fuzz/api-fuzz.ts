// Every route of the scheduler's served OpenAPI document (so a new route is fuzzed without a change
// here), RUNS requests for each route that reads a body or a query (a tenth for the others) through
// the real fastify app (`app.inject`) of a scheduler on a real
// nats-server and SQLite file, with an admin token so that auth is not what refuses: mutated valid
// bodies and queries, garbage bodies, odd path parameters and content types. Never a 5xx; every
// error is the documented error body; a refusal of a mutated field names it (`body.<field>`,
// `query.<key>`); and a refused request changes nothing (no plan, migration, maintenance, power,
// token or config row, no host or VM).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "@drover/protocol";
import { TokenBook } from "../../../scheduler/src/api/tokens.js";
import { harness, type Harness } from "../../../scheduler/test/harness.js";
import { uuid } from "../../../scheduler/test/helpers.js";
import { RUNS, fcParams, inputsFrom, namesField, note, printSummary, prototypePolluted, tally, watchRejections } from "./kit.js";
import type { Mutant, Tally } from "./kit.js";

/** Valid inputs of the routes that take some; a route not listed here is fuzzed with garbage only. */
const valid: Record<string, { params?: Record<string, string>; query?: Record<string, string>; body?: object }> = {
  "POST /v1/plan": { body: { kind: "drain", host: "a" } },
  "POST /v1/plans/{id}/approve": { params: { id: "plan-none" } },
  "POST /v1/plans/{id}/reject": { params: { id: "plan-none" } },
  "POST /v1/modes/{kind}": { params: { kind: "balance" }, body: { mode: "recommend" } },
  "POST /v1/migrations": { body: { vm: "web1", host: "b" } },
  "POST /v1/hosts/{id}/drain": { params: { id: "a" }, body: { powerOff: false } },
  "POST /v1/hosts/{id}/undrain": { params: { id: "a" } },
  "POST /v1/hosts/{id}/forget": { params: { id: "a" } },
  "POST /v1/hosts/{id}/power": { params: { id: "b" }, body: { action: "off" } },
  "POST /v1/tokens": { body: { name: "fuzz-made", role: "viewer" } },
  "POST /v1/tokens/{name}/revoke": { params: { name: "victim" } },
  "GET /v1/plans": { query: { status: "proposed", limit: "5" } },
  "GET /v1/migrations": { query: { limit: "5", vm: "web1", host: "a" } },
  "GET /v1/history": { query: { limit: "5", kind: "migration", sinceMs: "0", host: "a", vm: "web1" } },
  "GET /v1/hosts/{id}": { params: { id: "a" } },
};

interface Request {
  params: Record<string, string>;
  query: { text: string; field: string | null; valid: boolean };
  body: Mutant | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

const oddSegments = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("..", ".", "%00", "%2F", "%ff", "a%20b", "-a", "a".repeat(129), "é", "__proto__", "constructor", "0"),
  fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 120 }),
);

/** A query as text: the valid one with one key mutated (named), or garbage. */
function queries(base: Record<string, string> | undefined): fc.Arbitrary<Request["query"]> {
  const q = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const garbageQuery = fc
    .oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 30 }), { maxKeys: 4 }).map(q),
      fc.string({ unit: "binary-ascii", maxLength: 200 }),
      fc.constantFrom("limit=1&limit=2", "__proto__[x]=1", "constructor[prototype][x]=1", "limit=1e400", "limit=NaN", "limit=-0", "a=%ff"),
    )
    .map((text) => ({ text, field: null, valid: false }));
  if (!base) return fc.oneof(fc.constant({ text: "", field: null, valid: true }), garbageQuery);
  const keys = Object.keys(base);
  const bad = fc.oneof(
    fc.constantFrom("", "NaN", "Infinity", "1e400", "-1", "0", "1.5", "99999999999999999999", "0x10", "true", "[]", "null"),
    fc.string({ maxLength: 300 }),
  );
  return fc.oneof(
    fc.constant({ text: q(base), field: null, valid: true }),
    fc.tuple(fc.constantFrom(...keys), bad).map(([k, v]) => ({ text: q({ ...base, [k]: v }), field: k, valid: false })),
    fc
      .string({ unit: "grapheme-ascii", minLength: 1, maxLength: 12 })
      .filter((k) => !keys.includes(k))
      .map((k) => ({ text: q({ ...base, [k]: "1" }), field: k, valid: false })),
    garbageQuery,
  );
}

function requests(route: string, pathParams: string[]): fc.Arbitrary<Request> {
  const v = valid[route] ?? {};
  const params = fc.tuple(...pathParams.map((p) => fc.oneof(fc.constant(v.params?.[p] ?? "nope-1"), oddSegments)));
  return fc.record({
    params: (pathParams.length ? params : fc.constant([] as string[])).map((xs) =>
      Object.fromEntries(pathParams.map((p, i) => [p, xs[i]!])),
    ),
    query: queries(v.query),
    body: fc.option(v.body ? inputsFrom([v.body]) : inputsFrom([{ a: 1, b: ["x", null] }]), { freq: 6 }).map((b) => b ?? undefined),
    contentType: fc.constantFrom(
      "application/json",
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      undefined,
      "application/x-www-form-urlencoded",
      "application/json; charset=latin1",
    ),
    contentEncoding: fc.oneof(
      { weight: 20, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom("gzip", "br", "identity", "x") },
    ),
  });
}

/**
 * The suite for the routes of one method (GET and POST run as two files, in parallel: together they
 * are the largest part of the fuzz suite's time).
 */
export function fuzzApi(only: "GET" | "POST"): void {
  describe(`fuzz: the scheduler's HTTP API through app.inject (${only} routes)`, () => {
    let h: Harness;
    let routes: { method: "GET" | "POST"; path: string }[] = [];
    const tallies: Tally[] = [];
    const rejections = watchRejections();

    beforeAll(async () => {
      h = await harness(["a", "b", "c"], {
        a: [
          { uuid: uuid(1), name: "web1" },
          { uuid: uuid(2), name: "db1", tags: ["db"] },
        ],
        b: [{ uuid: uuid(3), name: "web2" }],
      });
      await h.report();
      new TokenBook(h.s.store, () => h.clock.now()).create("victim", "viewer", "test");
      const doc = await h.s.api.app.inject({ method: "GET", url: "/openapi.json", headers: { authorization: `Bearer ${h.token}` } });
      routes = Object.entries(doc.json().paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => ({ method: m.toUpperCase() as "GET" | "POST", path })),
      );
    }, 60_000);
    afterAll(async () => {
      rejections.stop();
      printSummary(tallies);
      await h?.[Symbol.asyncDispose]();
    });

    it("walks every route of the OpenAPI document", () => {
      expect(routes.length).toBeGreaterThanOrEqual(21);
      for (const r of Object.keys(valid)) expect(routes.map((x) => `${x.method} ${x.path}`)).toContain(r);
      // A route of another method would be fuzzed by neither file: add a file for it.
      expect(routes.filter((r) => r.method !== "GET" && r.method !== "POST")).toEqual([]);
    });

    /**
     * What a refused request must leave alone: the newest row of each table, tokens, hosts and VMs.
     * The rows are read again only when the store wrote any (`rowsChanged`): most requests are refused
     * before their handler, and reading the tables after each of them was most of this file's time.
     */
    let rows = { changed: -1, read: "" };
    const fingerprint = () => {
      const s = h.s;
      return JSON.stringify([[...s.state.hosts.keys()], s.state.vmCount, storedRows()]);
    };
    const storedRows = () => {
      const s = h.s;
      if (rows.changed === s.store.rowsChanged) return rows.read;
      rows = { changed: s.store.rowsChanged, read: storedRowsNow() };
      return rows.read;
    };
    const storedRowsNow = () => {
      const s = h.s;
      return JSON.stringify([
        s.store.plans.list({ limit: 1 })[0]?.id,
        s.store.migrations.list({ limit: 1 })[0]?.id,
        s.store.maintenance.list({ limit: 1 })[0]?.id,
        // A refused power action is recorded on purpose (who tried to power what off, and why not): not a change.
        s.store.power.list({ limit: 20 }).find((p) => !(p.status === "cancelled" && p.error))?.id ?? "only refusals",
        s.store.config.list({ limit: 1 })[0],
        s.store.tokens.list().map((t) => [t.name, t.revokedMs]),
      ]);
    };

    // One test per route: the document is read in beforeAll, so the routes are walked inside one test.
    it(
      `every route (${RUNS} requests for each body or query), no 5xx, the error body, the field named, nothing changed by a refusal`,
      { timeout: 900_000 },
      async () => {
        for (const { method, path } of routes.filter((r) => r.method === only)) {
          const route = `${method} ${path}`;
          const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
          const t = tally(`api ${route}`);
          let last: string | undefined;
          tallies.push(t);
          // Routes that read a body or a query get RUNS; the others (path parameters only) a tenth, to stay in the CI budget.
          const runs = valid[route]?.body || valid[route]?.query ? RUNS : RUNS / 10;
          await fc.assert(
            fc.asyncProperty(requests(route, pathParams), async (r) => {
              t.tried++;
              const url =
                pathParams.reduce((p, k) => p.replace(`{${k}}`, encodeURIComponent(r.params[k]!)), path) +
                (r.query.text ? `?${r.query.text}` : "");
              // The state before: the last refusal's (nothing changed since), else read now. A GET changes nothing by design.
              const before = method === "GET" ? "" : (last ?? fingerprint());
              const headers: Record<string, string> = { authorization: `Bearer ${h.token}` };
              if (r.contentType && r.body) headers["content-type"] = r.contentType;
              if (r.contentEncoding) headers["content-encoding"] = r.contentEncoding;
              const what = () => `${route} ${url} [${r.body?.kind ?? "no body"} ${r.contentType}] ${r.body?.text.slice(0, 200) ?? ""}`;
              let res;
              try {
                res = await h.s.api.app.inject({ method, url, headers, ...(r.body ? { payload: Buffer.from(r.body.bytes) } : {}) });
              } catch (e) {
                return note(t, "crash", `inject threw ${String(e)}: ${what()}`);
              }
              if (prototypePolluted()) return note(t, "crash", `reached Object.prototype: ${what()}`);
              if (res.statusCode >= 500) return note(t, "crash", `${res.statusCode} ${res.body.slice(0, 200)}: ${what()}`);
              if (res.statusCode < 400) {
                last = undefined;
                return void t.accepted++;
              }
              t.rejected++;
              if (res.statusCode === 401 || res.statusCode === 403) return note(t, "crash", `auth refused the admin token: ${what()}`);
              const err = ApiError.safeParse(JSON.parse(res.body));
              if (!err.success) return note(t, "crash", `${res.statusCode} without the error body: ${res.body.slice(0, 200)}: ${what()}`);
              last = method === "GET" ? undefined : fingerprint();
              if (last !== undefined && last !== before) note(t, "crash", `${res.statusCode} yet the state changed: ${what()}`);
              // Which part was broken: the body when it alone was mutated, the query key when it alone was.
              const issues = err.data.error.issues;
              const bodyBroken =
                valid[route]?.body &&
                r.body &&
                r.body.kind !== "valid" &&
                r.contentType?.startsWith("application/json") &&
                !r.contentEncoding;
              const onlyQuery = r.query.field !== null && (method === "GET" || !r.body || r.body.kind === "valid");
              if (res.statusCode === 400 && bodyBroken && r.query.valid && r.body!.field !== null && r.body!.field !== "(json)") {
                if (!namesField(issues, r.body!.field, "body") && !issues.some((i) => i.field.startsWith("params")))
                  note(t, "unnamed", `${JSON.stringify(issues).slice(0, 300)}: ${what()}`);
              }
              if (res.statusCode === 400 && onlyQuery && !issues.some((i) => i.field.startsWith("params"))) {
                if (!namesField(issues, r.query.field!, "query")) note(t, "unnamed", `${JSON.stringify(issues).slice(0, 300)}: ${what()}`);
              }
            }),
            fcParams(runs),
          );
          expect(t.tried, route).toBeGreaterThanOrEqual(runs);
          expect([route, t.crashes, t.unnamed, t.examples]).toEqual([route, 0, 0, []]);
        }
        expect(rejections.seen).toEqual([]);
      },
    );
  });
}
