import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ValidationError } from "@drover/protocol";
import { NatsServer } from "../src/testing/index.js";
import { InvalidMessageError, PublishFailedError, type Bus } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo, sleep } from "./helpers.js";

const Ping = z.object({ n: z.number().int(), note: z.string().max(10).optional() });
type Ping = z.output<typeof Ping>;

let server: NatsServer;
let bus: Bus;
const log = memoryLogger();

beforeAll(async () => {
  server = await NatsServer.start();
  bus = await connectTo(server, { logger: log });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("publish / subscribe", () => {
  it("delivers valid messages in order with their concrete subject", async () => {
    const got: { msg: Ping; subject: string }[] = [];
    const sub = bus.subscribe("t.order.*", Ping, (msg, ctx) => {
      got.push({ msg, subject: ctx.subject });
    });
    await bus.flush();
    for (let n = 0; n < 20; n++) bus.publish(`t.order.${n % 2 ? "odd" : "even"}`, Ping, { n });
    await expect.poll(() => got.length, { timeout: 10_000, interval: 20, message: "20 messages" }).toBe(20);
    expect(got.map((g) => g.msg.n)).toEqual([...Array(20).keys()]);
    expect(got[1]?.subject).toBe("t.order.odd");
    await sub.drain();
  });

  it("refuses to publish an invalid message, naming the field, and sends nothing", async () => {
    let received = 0;
    const sub = bus.subscribe("t.refuse", Ping, () => {
      received++;
    });
    await bus.flush();
    const before = bus.stats().published;
    let err: unknown;
    try {
      bus.publish("t.refuse", Ping, { n: 1.5 } as Ping);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidMessageError);
    expect(err).toBeInstanceOf(ValidationError);
    const ime = err as InvalidMessageError;
    expect(ime.code).toBe("invalid-message");
    expect(ime.field).toBe("n");
    expect(ime.subject).toBe("t.refuse");
    expect(ime.direction).toBe("publish");
    expect(ime.message).toMatch(/n: /);
    await bus.flush();
    await sleep(50);
    expect(received).toBe(0);
    expect(bus.stats().published).toBe(before);
    await sub.drain();
  });

  it("strips unknown keys before sending", async () => {
    const got: unknown[] = [];
    const sub = bus.subscribe("t.strip", z.unknown(), (m) => void got.push(m));
    await bus.flush();
    bus.publish("t.strip", Ping, { n: 3, extra: "secret" } as Ping);
    await expect.poll(() => got.length, { timeout: 10_000, interval: 20, message: "the message" }).toBe(1);
    expect(got[0]).toEqual({ n: 3 });
    await sub.drain();
  });

  it("rejects and counts invalid messages on the wire; the handler never sees them", async () => {
    const got: Ping[] = [];
    const sub = bus.subscribe("t.raw.>", Ping, (m) => void got.push(m));
    await bus.flush();
    const before = bus.stats();
    const enc = new TextEncoder();
    bus.nc.publish("t.raw.a", enc.encode("{not json"));
    bus.nc.publish("t.raw.b", enc.encode(JSON.stringify({ n: "seven" })));
    bus.nc.publish("t.raw.b", enc.encode(JSON.stringify({ n: 1, note: "far too long a note" })));
    bus.nc.publish("t.raw.a", new Uint8Array());
    bus.publish("t.raw.a", Ping, { n: 42 });
    await expect.poll(() => got.length, { timeout: 10_000, interval: 20, message: "the valid message" }).toBe(1);
    expect(got).toEqual([{ n: 42 }]);
    const after = bus.stats();
    expect(after.invalid - before.invalid).toBe(4);
    expect((after.invalidBySubject["t.raw.a"] ?? 0) - (before.invalidBySubject["t.raw.a"] ?? 0)).toBe(2);
    expect((after.invalidBySubject["t.raw.b"] ?? 0) - (before.invalidBySubject["t.raw.b"] ?? 0)).toBe(2);
    const warns = log.entries.filter((e) => e.level === "warn" && String(e.obj["subject"]).startsWith("t.raw."));
    // The first invalid message on each subject is logged at once; the rest wait for the interval's line.
    expect(warns.map((w) => [w.obj["subject"], w.obj["field"], w.obj["count"]])).toEqual([
      ["t.raw.a", "(json)", 1],
      ["t.raw.b", "n", 1],
    ]);
    expect(warns[1]?.msg).toMatch(/t\.raw\.b: n$/);
    expect(warns[1]?.obj["issue"]).toMatch(/number/);
    await sub.drain();
  });

  it("catches handler exceptions, sync and async, and keeps the subscription", async () => {
    const seen: number[] = [];
    const sub = bus.subscribe("t.throw", Ping, async (m) => {
      seen.push(m.n);
      if (m.n === 1) throw new Error("sync boom");
      if (m.n === 2) await Promise.reject(new Error("async boom"));
    });
    await bus.flush();
    const before = bus.stats().handlerErrors;
    for (const n of [1, 2, 3]) bus.publish("t.throw", Ping, { n });
    await expect.poll(() => seen.length, { timeout: 10_000, interval: 20, message: "three messages" }).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(bus.stats().handlerErrors - before).toBe(2);
    const errs = log.entries.filter((e) => e.level === "error" && e.obj["subject"] === "t.throw");
    expect(errs.map((e) => (e.obj["err"] as Error).message)).toEqual(["sync boom", "async boom"]);
    await sub.drain();
  });

  it("queue groups split messages between members", async () => {
    const a: number[] = [];
    const b: number[] = [];
    const sa = bus.subscribe("t.q", Ping, (m) => void a.push(m.n), { queue: "workers" });
    const sb = bus.subscribe("t.q", Ping, (m) => void b.push(m.n), { queue: "workers" });
    await bus.flush();
    for (let n = 0; n < 50; n++) bus.publish("t.q", Ping, { n });
    await expect.poll(() => a.length + b.length, { timeout: 10_000, interval: 20, message: "50 messages across the group" }).toBe(50);
    expect(new Set([...a, ...b]).size).toBe(50);
    await Promise.all([sa.drain(), sb.drain()]);
  });

  it("refuses a message over the server's max_payload with a typed error", async () => {
    const Blob = z.object({ data: z.string() });
    const err = (() => {
      try {
        bus.publish("t.big", Blob, { data: "x".repeat(2 * 1024 * 1024) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PublishFailedError);
    expect((err as PublishFailedError).code).toBe("publish-failed");
    expect((err as PublishFailedError).subject).toBe("t.big");
  });

  it("unsubscribe stops delivery", async () => {
    let count = 0;
    const sub = bus.subscribe("t.unsub", Ping, () => void count++);
    await bus.flush();
    bus.publish("t.unsub", Ping, { n: 1 });
    await expect.poll(() => count, { timeout: 10_000, interval: 20, message: "one delivery" }).toBe(1);
    sub.unsubscribe();
    await sub.closed;
    bus.publish("t.unsub", Ping, { n: 2 });
    await bus.flush();
    await sleep(50);
    expect(count).toBe(1);
  });
});
