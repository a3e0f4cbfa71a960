// Hostile HTTP: oversize bodies, targets and headers, prototype keys, compressed bodies and
// garbage request lines all get the documented error body, and nothing is acted on.
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ApiError } from "@drover/protocol";
import { BODY_LIMIT, URL_LIMIT } from "../src/api/server.js";
import { harness, json, post, get } from "./harness.js";
import { uuid } from "./helpers.js";

/** Sends raw bytes and returns the status and the body of the reply (what fetch cannot send). */
async function raw(url: string, request: string): Promise<{ status: number; body: unknown }> {
  const u = new URL(url);
  const text = await new Promise<string>((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => sock.end(request));
    let out = "";
    sock.on("data", (b: Buffer) => (out += b.toString()));
    sock.on("end", () => resolve(out));
    sock.on("error", reject);
  });
  const [head, body = ""] = text.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)?.[1]), body: JSON.parse(body) };
}

describe("HTTP limits and hostile input", () => {
  it("answers each with the error body naming what is wrong, and acts on none", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const auth = { authorization: `Bearer ${h.token}` };
    const cases: { name: string; res: () => Promise<{ status: number; body: unknown }>; status: number; code: string; field?: string }[] = [
      {
        name: "body over the limit",
        res: async () => {
          const r = await post(h.url("/v1/plan"), undefined, JSON.stringify({ kind: "balance", pad: "x".repeat(BODY_LIMIT) }));
          return { status: r.status, body: await json(r) };
        },
        status: 413,
        code: "too-large",
        field: "body",
      },
      {
        name: "request target over the limit",
        res: async () => {
          const r = await get(h.url(`/v1/history?kind=${"a".repeat(URL_LIMIT)}`));
          return { status: r.status, body: await json(r) };
        },
        status: 414,
        code: "uri-too-long",
      },
      {
        name: "path segment over fastify's maxParamLength",
        res: async () => {
          const r = await get(h.url(`/v1/hosts/${"a".repeat(200)}`));
          return { status: r.status, body: await json(r) };
        },
        status: 414,
        code: "uri-too-long",
        field: "params",
      },
      {
        name: "headers over 16 KiB (refused by Node's parser, before fastify)",
        res: () => raw(h.url("/"), `GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(20_000)}\r\n\r\n`),
        status: 431,
        code: "headers-too-large",
      },
      {
        name: "not HTTP",
        res: () => raw(h.url("/"), "HELLO THERE\r\n\r\n"),
        status: 400,
        code: "bad-request",
      },
      {
        name: "__proto__ key",
        res: async () => {
          const r = await post(h.url("/v1/migrations"), undefined, '{"vm":"web1","host":"b","__proto__":{"admin":true}}');
          return { status: r.status, body: await json(r) };
        },
        status: 400,
        code: "bad-request",
        field: "body.__proto__",
      },
      {
        name: "nested constructor.prototype",
        res: async () => {
          const r = await post(h.url("/v1/plan"), undefined, '{"kind":"balance","x":[{"constructor":{"prototype":{"a":1}}}]}');
          return { status: r.status, body: await json(r) };
        },
        status: 400,
        code: "bad-request",
        field: "body.x[0].constructor",
      },
      {
        name: "deeply nested body",
        res: async () => {
          const r = await post(h.url("/v1/plan"), undefined, `{"kind":"balance","x":${"[".repeat(200_000)}${"]".repeat(200_000)}}`);
          return { status: r.status, body: await json(r) };
        },
        status: 400,
        code: "bad-request",
        field: "body.x",
      },
      {
        name: "gzip body",
        res: async () => {
          const r = await fetch(h.url("/v1/migrations"), {
            method: "POST",
            headers: { ...auth, "content-type": "application/json", "content-encoding": "gzip" },
            body: gzipSync(JSON.stringify({ vm: "web1", host: "b" })),
          });
          return { status: r.status, body: await json(r) };
        },
        status: 415,
        code: "unsupported-encoding",
        field: "headers.content-encoding",
      },
      {
        name: "not JSON",
        res: async () => {
          const r = await post(h.url("/v1/migrations"), undefined, "{vm: web1");
          return { status: r.status, body: await json(r) };
        },
        status: 400,
        code: "bad-request",
        field: "body",
      },
    ];
    for (const c of cases) {
      const r = await c.res();
      const p = ApiError.safeParse(r.body);
      expect([c.name, r.status, p.success ? "" : JSON.stringify(r.body).slice(0, 300)]).toEqual([c.name, c.status, ""]);
      const e = p.data!.error;
      expect([c.name, r.status, e.code]).toEqual([c.name, c.status, c.code]);
      expect(e.message.length).toBeGreaterThan(0);
      if (c.field) expect([c.name, e.issues.map((i) => i.field)]).toEqual([c.name, [c.field]]);
    }
    // The prototype key is named, not "not valid JSON".
    const proto = await post(h.url("/v1/migrations"), undefined, '{"vm":"web1","host":"b","__proto__":{}}');
    expect(ApiError.parse(await json(proto)).error.message).toMatch(/body\.__proto__: a "__proto__" key is refused/);
    expect(h.s.store.migrations.list()).toEqual([]);
    expect(h.s.store.plans.list()).toEqual([]);
    expect(h.agents.received.filter((c) => c.kind !== "status")).toEqual([]);
    // Still serving.
    expect((await get(h.url("/v1/status"))).status).toBe(200);
  });
});
