// `/v1/history` filters and host events: a host's state changes (as the scheduler derives them) and
// its agent's lifecycle events are recorded and returned as kind "host"; filters are validated.
// Real nats-server, real SQLite, a running Scheduler with fake agents.
import { describe, expect, it } from "vitest";
import { HistoryResponse, HostEvent, subjects } from "@drover/protocol";
import { get, harness, json, post, type Harness } from "./harness.js";
import { CLUSTER, uuid } from "./helpers.js";

const history = async (h: Harness, q: string) => HistoryResponse.parse(await json(await get(h.url(`/v1/history?${q}`)))).entries;

describe("history: host events and filters", () => {
  it("records a host going unreachable and back, and its agent's lifecycle events; filters by host, kind and time", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v0" }] });
    await h.report();
    h.s.flush();
    const start = h.clock.now();
    h.agents.bus.publish(subjects.hostEvent(CLUSTER, "b"), HostEvent, {
      v: 1,
      host: "b",
      timeMs: Date.now(),
      kind: "agent-stopping",
      detail: "SIGTERM",
    });
    // A vm-lifecycle event is not history; an event claiming another host than its subject is refused.
    h.agents.bus.publish(subjects.hostEvent(CLUSTER, "b"), HostEvent, {
      v: 1,
      host: "b",
      timeMs: Date.now(),
      kind: "vm-lifecycle",
      detail: "x",
    });
    h.agents.bus.publish(subjects.hostEvent(CLUSTER, "b"), HostEvent, {
      v: 1,
      host: "a",
      timeMs: Date.now(),
      kind: "agent-started",
      detail: "",
    });
    await expect
      .poll(async () => (await history(h, "kind=host")).map((e) => e.summary), { timeout: 15_000, interval: 20 })
      .toEqual(["host b: agent: agent-stopping (SIGTERM)"]);

    // b falls silent: after unreachableAfter intervals the scheduler sees it unreachable, and records it.
    h.clock.advance(5000);
    await h.report(["a"]);
    await h.s.tick();
    h.s.flush();
    await expect
      .poll(async () => (await history(h, "kind=host&host=b")).map((e) => e.outcome), { timeout: 15_000, interval: 20 })
      .toEqual(["unreachable", "agent-stopping"]);
    h.clock.advance(1000);
    await h.report(["a", "b"]);
    h.s.flush();
    const b = await history(h, "host=b");
    expect(b.map((e) => e.summary)).toEqual([
      "host b: unreachable -> healthy",
      "host b: healthy -> unreachable",
      "host b: agent: agent-stopping (SIGTERM)",
    ]);
    expect(b.every((e) => e.kind === "host" && e.host === "b" && e.requestedBy === null)).toBe(true);
    expect((await history(h, "host=a&kind=host")).length).toBe(0);
    expect((await history(h, `kind=host&sinceMs=${start + 5500}`)).map((e) => e.outcome)).toEqual(["healthy"]);

    // A move shows under its VM (by name, resolved to the uuid) and under both hosts.
    const m = await json(await post(h.url("/v1/migrations"), { vm: "v0", host: "b" }));
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    expect((await history(h, "vm=v0&kind=migration")).map((e) => e.id)).toEqual([m.id]);
    expect((await history(h, "host=a&kind=migration")).map((e) => e.id)).toEqual([m.id]);
    expect((await history(h, "vm=v0&kind=host")).length).toBe(0);
    expect((await history(h, "vm=nothing-like-it")).length).toBe(0);
  });

  it("refuses bad filters naming the field, and documents them in /openapi.json", async () => {
    await using h = await harness(["a"], {});
    for (const [q, field] of [
      ["host=Not%20A%20Host", "query.host"],
      ["kind=hosts", "query.kind"],
      ["sinceMs=yesterday", "query.sinceMs"],
      [`vm=${"x".repeat(300)}`, "query.vm"],
      ["colour=red", "query.colour"],
    ] as const) {
      const r = await get(h.url(`/v1/history?${q}`));
      expect(r.status, q).toBe(400);
      expect(
        (await json(r)).error.issues.map((i: { field: string }) => i.field),
        q,
      ).toContain(field);
    }
    const doc = await json(await get(h.url("/openapi.json")));
    const params = doc.paths["/v1/history"].get.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
    expect(params).toEqual(expect.arrayContaining(["query:limit", "query:kind", "query:sinceMs", "query:host", "query:vm"]));
  });
});
