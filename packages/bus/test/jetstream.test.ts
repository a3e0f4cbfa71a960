import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { InvalidMessageError, type Bus, type KvChange } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo } from "./helpers.js";

const Desired = z.object({ host: z.string().min(1), drained: z.boolean() });
type Desired = z.output<typeof Desired>;
const Event = z.object({ id: z.string(), at: z.number() });

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

describe("streams", () => {
  it("creates a stream once, updates it in place, and stores validated messages", async () => {
    const a = await bus.jetstream.ensureStream("EVENTS", ["js.events.>"], { maxMsgsPerSubject: 10 });
    expect(a.config.subjects).toEqual(["js.events.>"]);
    const b = await bus.jetstream.ensureStream("EVENTS", ["js.events.>", "js.more.>"], { maxAgeMs: 60_000 });
    expect(b.config.subjects).toEqual(["js.events.>", "js.more.>"]);
    expect(b.config.max_age).toBe(60_000 * 1_000_000);
    expect(b.state.messages).toBe(0);

    const s1 = await bus.jetstream.publish("js.events.h1", Event, { id: "e1", at: 1 }, { msgId: "e1" });
    const s2 = await bus.jetstream.publish("js.events.h1", Event, { id: "e1", at: 1 }, { msgId: "e1" });
    expect(s2).toBe(s1); // deduplicated by message id: a repeated command is stored once
    await expect(bus.jetstream.publish("js.events.h1", Event, { id: 5 } as never)).rejects.toBeInstanceOf(InvalidMessageError);
    expect(await bus.jetstream.deleteStream("EVENTS")).toBe(true);
    expect(await bus.jetstream.deleteStream("EVENTS")).toBe(false);
  });
});

describe("typed KV", () => {
  it("puts, gets, deletes and compare-and-sets validated values", async () => {
    const kv = await bus.jetstream.kv("desired", Desired, { history: 3 });
    expect(await kv.get("h1")).toBeUndefined();
    const r1 = await kv.put("h1", { host: "h1", drained: false });
    expect(await kv.get("h1")).toEqual({ host: "h1", drained: false });
    await kv.put("h1", { host: "h1", drained: true }, { previousRevision: r1 });
    await expect(kv.put("h1", { host: "h1", drained: false }, { previousRevision: r1 })).rejects.toMatchObject({
      code: "jetstream",
    });
    await expect(kv.put("h2", { host: "", drained: false })).rejects.toMatchObject({ code: "invalid-message", field: "host" });
    expect(await kv.readFromLeader()).toEqual([{ key: "h1", value: { host: "h1", drained: true } }]);
    await kv.delete("h1");
    expect(await kv.get("h1")).toBeUndefined();
  });

  it("removes a key with nothing of it left in the stream, where a delete leaves a marker", async () => {
    const kv = await bus.jetstream.kv("written-once", Desired);
    for (const h of ["a", "b", "c"]) await kv.put(h, { host: h, drained: false });
    await kv.delete("a");
    await kv.remove("b");
    expect((await kv.readFromLeader()).map((e) => e.key)).toEqual(["c"]);
    expect(await kv.get("b")).toBeUndefined();
    // c's value and a's marker: b is gone.
    expect(await bus.jetstream.storedMessages("KV_written-once")).toBe(2);
    await kv.put("b", { host: "b", drained: true });
    expect(await kv.get("b")).toEqual({ host: "b", drained: true });
    await kv.remove("never-there");
    expect(await bus.jetstream.storedMessages("KV_written-once")).toBe(3);
    expect(await bus.jetstream.storedMessages("KV_no-such-bucket")).toBeUndefined();
  });

  it("watches current values and changes, skipping and counting corrupt entries", async () => {
    const kv = await bus.jetstream.kv("watched", Desired);
    await kv.put("a", { host: "a", drained: false });
    const changes: KvChange<Desired>[] = [];
    await using _w = await kv.watch((c) => void changes.push(c));
    await expect.poll(() => changes.length, { timeout: 10_000, interval: 20, message: "initial value" }).toBe(1);
    const before = bus.stats().invalid;
    // Someone writes garbage straight into the bucket's stream subject.
    await bus.nc.request("$KV.watched.b", new TextEncoder().encode('{"host":7}'));
    await kv.put("c", { host: "c", drained: true });
    await kv.delete("a");
    await expect.poll(() => changes.length, { timeout: 10_000, interval: 20, message: "put and delete" }).toBe(3);
    expect(changes.map((c) => [c.key, c.operation, c.value])).toEqual([
      ["a", "PUT", { host: "a", drained: false }],
      ["c", "PUT", { host: "c", drained: true }],
      ["a", "DEL", undefined],
    ]);
    expect(bus.stats().invalid - before).toBe(1);
    expect(bus.stats().invalidBySubject["kv:watched/b"]).toBe(1);
    await expect(kv.get("b")).rejects.toMatchObject({ code: "invalid-message", field: "host" });
  });
});
