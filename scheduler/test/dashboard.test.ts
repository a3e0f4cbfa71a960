// The dashboard's routes over real HTTP: the page and its assets load without a token (and hold no
// cluster data), the dashboard body and its event stream need a viewer token sent as a header, the
// stream says who the token is, follows changes, and ends when the token is revoked.
import { describe, expect, it } from "vitest";
import { ApiCaller, ApiDashboard, ApiError } from "@drover/protocol";
import { TokenBook } from "../src/api/tokens.js";
import { harness, json, get, post } from "./harness.js";
import { uuid } from "./helpers.js";

const stream = { accept: "text/event-stream" };

/** Reads server-sent events from a response, one at a time. */
function events(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return {
    async next(): Promise<{ event: string; data: unknown } | null> {
      for (;;) {
        const end = buf.indexOf("\n\n");
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6))
            .join("\n");
          return { event, data: JSON.parse(data) };
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buf += value;
      }
    },
    /** The next event of this name (the stream repeats `dashboard`, so a change shows within a few). */
    async until(event: string, ok: (data: unknown) => boolean = () => true, max = 30): Promise<unknown> {
      for (let i = 0; i < max; i++) {
        const e = await this.next();
        if (e === null) throw new Error(`the stream ended before a matching "${event}" event`);
        if (e.event === event && ok(e.data)) return e.data;
      }
      throw new Error(`no matching "${event}" event in ${max}`);
    },
    cancel: () => reader.cancel(),
  };
}

describe("dashboard", () => {
  it("serves the page and its assets to anyone, with a policy that runs only its own script; no cluster data in them", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const page = await fetch(h.url("/"));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('src="/dashboard/dashboard.js"');
    expect(html).not.toContain("web1");
    for (const [path, type] of [
      ["/dashboard/dashboard.js", /^text\/javascript/],
      ["/dashboard/dashboard.css", /^text\/css/],
    ] as const) {
      const r = await fetch(h.url(path));
      expect([path, r.status, r.headers.get("content-type")]).toEqual([path, 200, expect.stringMatching(type)]);
      expect(await r.text()).not.toContain("web1");
    }
    // The openness ends with the page: other paths still need a token.
    expect((await fetch(h.url("/dashboard/other.js"))).status).toBe(401);
    expect((await fetch(h.url("/v1/dashboard"))).status).toBe(401);
    expect((await fetch(h.url("/v1/dashboard/events"), { headers: stream })).status).toBe(401);

    const doc = await json(await get(h.url("/openapi.json")));
    expect(doc.paths["/v1/dashboard"].get.security).toEqual([{ bearer: ["viewer"] }]);
    expect(doc.paths["/v1/dashboard/events"].get.security).toEqual([{ bearer: ["viewer"] }]);
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith("/v1/") && p !== "/metrics")).toEqual([]);
  });

  it("answers the whole picture to a viewer: hosts with their VMs, plans with their reasons, drains, the timeline", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }], b: [{ uuid: uuid(2), name: "db1" }] });
    await h.report();
    const viewer = new TokenBook(h.s.store, () => h.clock.now()).create("eve", "viewer", "test").token;
    expect((await post(h.url("/v1/plan"), { kind: "balance" })).status).toBe(200);
    expect((await post(h.url("/v1/hosts/b/drain"), {})).status).toBe(202);

    const res = await fetch(h.url("/v1/dashboard"), { headers: { authorization: `Bearer ${viewer}` } });
    expect(res.status).toBe(200);
    const d = ApiDashboard.parse(await json(res));
    expect(d.hosts.map((x) => [x.id, x.vmCount])).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
    expect(d.vms.map((v) => [v.name, v.host])).toEqual([
      ["db1", "b"],
      ["web1", "a"],
    ]);
    expect(d.plans.some((p) => p.kind === "balance" && p.status === "proposed")).toBe(true);
    expect(d.maintenance.map((m) => [m.host, m.vmsAtStart])).toEqual([["b", 1]]);
    expect(d.band).toEqual({ low: expect.any(Number), high: expect.any(Number) });
    expect(d.timeline.points.length).toBeGreaterThanOrEqual(1);
    expect(d.timeline.points.at(-1)).toMatchObject({ activeHosts: 2 });
    // No host has configured watts: no estimate rather than a made-up one.
    expect([d.timeline.energyWh, d.hosts[0]!.watts]).toEqual([null, null]);
  });

  it("streams who the token is and the picture as it changes, and ends the stream when the token is revoked", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const book = new TokenBook(h.s.store, () => h.clock.now());
    const viewer = book.create("eve", "viewer", "test").token;

    const bad = await fetch(h.url("/v1/dashboard/events"), { headers: { ...stream, authorization: "Bearer drover_nope" } });
    expect([bad.status, ApiError.parse(await json(bad)).error.code]).toEqual([401, "unauthorized"]);

    // Only a client that asks for an event stream gets one (it never ends by itself).
    const plain = await fetch(h.url("/v1/dashboard/events"), { headers: { authorization: `Bearer ${viewer}` } });
    const refusal = ApiError.parse(await json(plain)).error;
    expect([plain.status, refusal.code, refusal.issues.map((i) => i.field)]).toEqual([406, "not-acceptable", ["headers.accept"]]);

    const res = await fetch(h.url("/v1/dashboard/events"), { headers: { ...stream, authorization: `Bearer ${viewer}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const s = events(res);
    expect(ApiCaller.parse((await s.next())?.data)).toEqual({ name: "eve", role: "viewer" });
    const first = ApiDashboard.parse(await s.until("dashboard"));
    expect(first.maintenance).toEqual([]);

    // An operator's drain shows on the open stream.
    expect((await post(h.url("/v1/hosts/a/drain"), {})).status).toBe(202);
    const drained = ApiDashboard.parse(await s.until("dashboard", (d) => ApiDashboard.parse(d).maintenance.some((m) => m.host === "a")));
    expect(drained.hosts.find((x) => x.id === "a")?.maintenanceId).not.toBeNull();

    book.revoke("eve", "test");
    const gone = (await s.until("unauthorized")) as { message: string };
    expect(gone.message).toContain("revoked");
    expect(await s.next()).toBeNull();
  });

  it("shuts down with a stream open (the stream ends instead of holding the server)", async () => {
    await using h = await harness(["a"], {});
    await h.report();
    const res = await fetch(h.url("/v1/dashboard/events"), { headers: { ...stream, authorization: `Bearer ${h.token}` } });
    const s = events(res);
    expect((await s.next())?.event).toBe("caller");
    await h.s.shutdown();
    await expect(s.until("never")).rejects.toThrow(/ended/);
  });
});
