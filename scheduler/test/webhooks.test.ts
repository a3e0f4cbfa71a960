// Webhooks against a real HTTP receiver on 127.0.0.1: a real scheduler (nats-server, SQLite) sends a
// failed migration; the Webhooks queue retries, signs, gives up into the history, and drops on a full queue.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Store } from "@drover/store";
import { memoryLogger } from "@drover/protocol/testing";
import { describe, expect, it } from "vitest";
import { systemClock } from "../src/clock.js";
import { parseConfig } from "../src/config.js";
import { Metrics } from "../src/metrics.js";
import { Webhooks, webhookSignature, type WebhookEvent } from "../src/webhooks.js";
import { harness, post } from "./harness.js";
import { tempDir, uuid } from "./helpers.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers each POST with the next status of `statuses` (the last one repeats). */
async function receiver(statuses: number[]): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses[Math.min(got.length - 1, statuses.length - 1)] ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, got, close: () => new Promise((r) => server.close(() => r())) };
}

const webhooksConfig = (receivers: unknown[], over: object = {}) =>
  parseConfig({ cluster: "c", nats: { servers: ["nats://127.0.0.1:1"] }, stateDir: "/tmp/unused", webhooks: { receivers, ...over } })
    .webhooks;

const event: WebhookEvent = { event: "drain-blocked", id: "mnt-1", host: "h1", summary: "drain of h1: blocked: 1 VM(s) cannot leave h1" };

describe("webhooks", () => {
  it("a failed migration of a real scheduler reaches the receiver, signed, after the receiver's failures", async () => {
    await using dir = await tempDir();
    const secretFile = join(dir.path, "hook.secret");
    await writeFile(secretFile, "s3cret-value\n");
    const r = await receiver([503, 200]);
    try {
      await using h = await harness(
        ["a", "b"],
        { a: [{ uuid: uuid(1), name: "v0" }] },
        { webhooks: { receivers: [{ url: `${r.url}?token=abc`, events: ["migration-failed"], secretFile }], backoffMs: 20 } },
      );
      h.agents.behaviour = { migrate: "fail", durationMs: 10 };
      await h.report();
      const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "fail" });
      await expect.poll(() => r.got.length, { timeout: 15_000, interval: 20, message: "a retried delivery" }).toBe(2);
      const last = r.got[1]!;
      expect(last.headers["x-drover-event"]).toBe("migration-failed");
      expect(last.headers["x-drover-signature"]).toBe(webhookSignature("s3cret-value", last.body));
      expect(JSON.parse(last.body)).toMatchObject({ event: "migration-failed", id: m.id, vm: "v0", host: "a", cluster: "t1" });
      expect(JSON.parse(last.body).summary).toMatch(/v0 a -> b failed: migration-failed/);
      // Both tries carry the same delivery id: a receiver can tell a retry from a new event.
      expect(r.got[0]!.headers["x-drover-delivery"]).toBe(last.headers["x-drover-delivery"]);
      expect(h.s.store.history({ kinds: ["webhook"] })).toEqual([]);
    } finally {
      await r.close();
    }
  });

  it("a drain in recommend mode tells the receiver a plan waits for approval", async () => {
    const r = await receiver([200]);
    try {
      await using h = await harness(
        ["a", "b"],
        { a: [{ uuid: uuid(1), name: "v0" }] },
        { policies: { drain: { mode: "recommend" } }, webhooks: { receivers: [{ url: r.url, events: ["plan-proposed"] }] } },
      );
      await h.report();
      expect((await post(h.url("/v1/hosts/a/drain"), {})).status).toBe(202);
      await expect.poll(() => r.got.length, { timeout: 15_000, interval: 20, message: "the plan-proposed event" }).toBe(1);
      const body = JSON.parse(r.got[0]!.body);
      expect(body).toMatchObject({ event: "plan-proposed", host: "a", cluster: "t1" });
      expect(h.s.store.plans.get(body.id)?.status).toBe("proposed");
      expect(r.got[0]!.headers["x-drover-signature"]).toBeUndefined();
    } finally {
      await r.close();
    }
  });

  it("gives up after its attempts, records that in the history, and never logs the secret or the URL's query", async () => {
    await using dir = await tempDir();
    const secretFile = join(dir.path, "hook.secret");
    await writeFile(secretFile, "s3cret-value");
    const r = await receiver([500]);
    const store = Store.open({ path: join(dir.path, "s.db") });
    const log = memoryLogger();
    const metrics = new Metrics();
    const w = await Webhooks.create({
      config: webhooksConfig([{ url: `${r.url}?token=abc`, secretFile }], { attempts: 3, backoffMs: 10 }),
      cluster: "c",
      clock: systemClock,
      log,
      metrics,
      recordFailure: (f) => store.webhookFailures.record(f),
    });
    try {
      w.emit(event);
      await expect.poll(() => store.history({ kinds: ["webhook"] }).length, { timeout: 15_000, interval: 20 }).toBe(1);
      expect(r.got).toHaveLength(3);
      const [entry] = store.history({ kinds: ["webhook"] });
      expect(entry?.summary).toBe(`webhook drain-blocked mnt-1 to ${r.url} not delivered after 3 attempt(s): HTTP 500`);
      expect(log.entries.filter((e) => e.msg === "webhook attempt failed")).toHaveLength(3);
      expect(log.text()).not.toContain("s3cret");
      expect(log.text()).not.toContain("token=abc");
      expect(await metrics.registry.getSingleMetricAsString("drover_webhook_deliveries_total")).toContain(
        'drover_webhook_deliveries_total{event="drain-blocked",outcome="failed"} 1',
      );
    } finally {
      await w.stop();
      await r.close();
      store.close();
    }
  });

  it("drops and records an event when the receiver's queue is full; nothing waits on the caller", async () => {
    await using dir = await tempDir();
    const store = Store.open({ path: join(dir.path, "s.db") });
    // Nothing listens on port 1: every attempt fails at once, and the back-off keeps the queue full.
    const w = await Webhooks.create({
      config: webhooksConfig([{ url: "http://127.0.0.1:1/hook", events: ["drain-blocked"] }], { queueSize: 1, backoffMs: 60_000 }),
      cluster: "c",
      clock: systemClock,
      log: memoryLogger(),
      metrics: new Metrics(),
      recordFailure: (f) => store.webhookFailures.record(f),
    });
    try {
      w.emit(event); // in delivery (waiting to retry)
      w.emit({ ...event, id: "mnt-2" }); // queued
      w.emit({ ...event, id: "mnt-3" }); // no room
      w.emit({ ...event, event: "plan-proposed", id: "plan-1" }); // not asked for: not queued at all
      expect(w.queued).toBe(2);
      expect(store.webhookFailures.list().map((f) => [f.eventId, f.attempts, f.error])).toEqual([["mnt-3", 0, "queue full (1)"]]);
    } finally {
      await w.stop();
      store.close();
    }
  });

  it("refuses to start with a secret file it cannot read, naming the key and the file", async () => {
    const start = Webhooks.create({
      config: webhooksConfig([{ url: "http://127.0.0.1:1/", secretFile: "/nonexistent/hook.secret" }]),
      cluster: "c",
      clock: systemClock,
      log: memoryLogger(),
      metrics: new Metrics(),
      recordFailure: () => {},
    });
    await expect(start).rejects.toThrow(/webhooks\.receivers\.0\.secretFile: cannot read \/nonexistent\/hook\.secret/);
  });

  it("config refuses a receiver that is not http(s) or asks for an unknown event", () => {
    expect(() => webhooksConfig([{ url: "ftp://x/" }])).toThrow(/webhooks\.receivers\.0\.url/);
    expect(() => webhooksConfig([{ url: "http://127.0.0.1/", events: ["everything"] }])).toThrow(/webhooks\.receivers\.0\.events\.0/);
    expect(webhooksConfig([]).receivers).toEqual([]);
  });

  it("config refuses plain http:// to another machine unless the receiver says insecure, and the start warns of it", async () => {
    expect(() => webhooksConfig([{ url: "http://hooks.example/drover?token=abc" }])).toThrow(
      /webhooks\.receivers\.0\.url: is plain http:\/\/ to another machine.*https:\/\/, or set insecure: true/,
    );
    expect(webhooksConfig([{ url: "https://hooks.example/drover" }]).receivers).toHaveLength(1);
    expect(webhooksConfig([{ url: "http://[::1]:9/" }]).receivers).toHaveLength(1);
    const config = webhooksConfig([{ url: "http://hooks.example/drover?token=abc", insecure: true }]);
    const log = memoryLogger();
    await Webhooks.create({
      config,
      cluster: "c",
      clock: systemClock,
      log,
      metrics: new Metrics(),
      recordFailure: () => {},
    });
    expect(log.entries).toEqual([
      { level: "warn", obj: { receiver: "http://hooks.example/drover" }, msg: expect.stringMatching(/insecure.*in clear/) as unknown },
    ]);
    expect(log.text()).not.toContain("token=abc");
  });
});
