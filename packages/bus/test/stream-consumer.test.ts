// A message that must survive: published into a stream with an ack, read through a durable
// consumer that acks only what its handler settled. On a real nats-server, restarted in between.
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { JetStreamOpError, type Bus, type StreamMsgContext } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo } from "./helpers.js";

const Result = z.object({ id: z.string(), outcome: z.string() });
type Result = z.output<typeof Result>;

async function stream(bus: Bus, name: string): Promise<void> {
  await bus.jetstream.ensureStream(name, [`${name}.>`], { maxAgeMs: 60_000, duplicateWindowMs: 60_000 });
}

/** Collects what the consumer delivers; `verdict` decides each one's fate. */
function collector(verdict: (r: Result, ctx: StreamMsgContext) => "ack" | "retry" = () => "ack") {
  const got: Array<{ r: Result; ctx: StreamMsgContext }> = [];
  return {
    got,
    handler: (r: Result, ctx: StreamMsgContext) => {
      got.push({ r, ctx });
      return verdict(r, ctx);
    },
  };
}

describe("durable stream consumer", () => {
  it("delivers what was published before it read, once; a restarted reader gets nothing again", async () => {
    await using server = await NatsServer.start();
    await using bus = await connectTo(server);
    await stream(bus, "R1");
    await bus.jetstream.publish("R1.a", Result, { id: "m1", outcome: "succeeded" }, { msgId: "c1" });
    // The same message id again (a retry after a lost ack) is stored once.
    await bus.jetstream.publish("R1.a", Result, { id: "m1", outcome: "succeeded" }, { msgId: "c1" });
    const c = collector();
    const consumer = await bus.jetstream.consume("R1", "reader", Result, c.handler, { filterSubject: "R1.>" });
    await expect.poll(() => c.got.length, { timeout: 10_000 }).toBe(1);
    expect(c.got[0]!.ctx).toMatchObject({ subject: "R1.a", deliveries: 1 });
    await consumer.stop();

    const again = collector();
    await using second = await bus.jetstream.consume("R1", "reader", Result, again.handler, { filterSubject: "R1.>" });
    await bus.jetstream.publish("R1.b", Result, { id: "m2", outcome: "failed" }, { msgId: "c2" });
    await expect.poll(() => again.got.map((g) => g.r.id), { timeout: 10_000 }).toEqual(["m2"]);
    void second;
  });

  it("a message the handler could not settle comes again; an invalid one is dropped and counted", async () => {
    await using server = await NatsServer.start();
    const log = memoryLogger();
    await using bus = await connectTo(server, { logger: log });
    await stream(bus, "R2");
    const c = collector((_r, ctx) => (ctx.deliveries < 2 ? "retry" : "ack"));
    await using consumer = await bus.jetstream.consume("R2", "reader", Result, c.handler, { filterSubject: "R2.>", retryDelayMs: 100 });
    void consumer;
    bus.publish("R2.bad", z.object({ id: z.number() }), { id: 7 });
    await bus.jetstream.publish("R2.a", Result, { id: "m1", outcome: "succeeded" });
    await expect.poll(() => c.got.map((g) => g.ctx.deliveries), { timeout: 10_000 }).toEqual([1, 2]);
    expect(bus.stats().invalidBySubject["R2.bad"]).toBe(1);
    // Logged as the bus logs invalid messages of a subscription: rate-limited, naming subject and field.
    expect(log.entries.some((e) => e.msg?.startsWith("dropped ") && JSON.stringify(e.obj).includes("R2.bad"))).toBe(true);
  });

  it("a reader that died before acking gets the message again after the ack wait", async () => {
    await using server = await NatsServer.start();
    await using setup = await connectTo(server);
    await stream(setup, "R3");
    const first = await connectTo(server);
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const seen: number[] = [];
    await first.jetstream.consume(
      "R3",
      "reader",
      Result,
      async (_r, ctx) => {
        seen.push(ctx.deliveries);
        await blocked;
        return "ack" as const;
      },
      { filterSubject: "R3.>", ackWaitMs: 1000 },
    );
    await setup.jetstream.publish("R3.a", Result, { id: "m1", outcome: "succeeded" });
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual([1]);
    await first.close(); // gone between receipt and ack
    release();

    const c = collector();
    await using bus = await connectTo(server);
    await using consumer = await bus.jetstream.consume("R3", "reader", Result, c.handler, { filterSubject: "R3.>", ackWaitMs: 1000 });
    void consumer;
    await expect.poll(() => c.got.map((g) => [g.r.id, g.ctx.deliveries]), { timeout: 10_000 }).toEqual([["m1", 2]]);
  });

  // Its own waits (the publish retried for 15 s, the delivery polled for 20 s) are the bounds, not
  // vitest's 30 s default: a restart on a loaded machine takes seconds before either begins.
  it("keeps reading across a nats-server restart; what was stored before it is kept", { timeout: 90_000 }, async () => {
    await using server = await NatsServer.start();
    await using bus = await connectTo(server);
    await stream(bus, "R4");
    const c = collector();
    await using consumer = await bus.jetstream.consume("R4", "reader", Result, c.handler, { filterSubject: "R4.>" });
    void consumer;
    const seq = await bus.jetstream.publish("R4.a", Result, { id: "before", outcome: "succeeded" });
    await expect.poll(() => c.got.length, { timeout: 10_000 }).toBe(1);
    // The ack goes out without a reply: stopped before the server has it, the server would rightly
    // deliver "before" again (at least once), which is not what this test is about.
    await expect.poll(() => bus.jetstream.consumerAcks("R4", "reader"), { timeout: 10_000 }).toEqual({ ackFloor: seq, ackPending: 0 });

    await server.stopProcess();
    await expect(bus.jetstream.publish("R4.a", Result, { id: "down", outcome: "failed" })).rejects.toBeInstanceOf(JetStreamOpError);
    await server.restart();
    // A publish acked after the restart reaches the same consumer, which resumed by itself.
    await vi.waitFor(() => bus.jetstream.publish("R4.a", Result, { id: "after", outcome: "succeeded" }, { msgId: "after" }), {
      timeout: 15_000,
      interval: 200,
    });
    await expect.poll(() => c.got.map((g) => g.r.id), { timeout: 20_000 }).toEqual(["before", "after"]);
  });
});
