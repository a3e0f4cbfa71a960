import { describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { BusClosedError } from "../src/index.js";
import { connectTo } from "./helpers.js";

const N = z.object({ n: z.number() });

describe("lifecycle", () => {
  it("drain lets running handlers finish, then refuses new work", async () => {
    await using server = await NatsServer.start();
    const bus = await connectTo(server);
    const done: number[] = [];
    let started = 0;
    bus.subscribe("l.work", N, async (m) => {
      started++;
      await new Promise((r) => setTimeout(r, 200));
      done.push(m.n);
    });
    await bus.flush();
    bus.publish("l.work", N, { n: 1 });
    await expect.poll(() => started, { timeout: 10_000, interval: 20, message: "the handler started" }).toBe(1);
    await bus.drain();
    expect(done).toEqual([1]);
    expect(bus.isClosed).toBe(true);
    expect(() => bus.publish("l.work", N, { n: 2 })).toThrow(BusClosedError);
    await expect(bus.request("l.work", N, { n: 3 }, N)).rejects.toBeInstanceOf(BusClosedError);
  });

  it("close does not wait for a stuck handler", async () => {
    await using server = await NatsServer.start();
    const bus = await connectTo(server);
    let started = false;
    bus.subscribe("l.stuck", N, () => {
      started = true;
      return new Promise<void>(() => undefined);
    });
    await bus.flush();
    bus.publish("l.stuck", N, { n: 1 });
    await expect.poll(() => started, { timeout: 10_000, interval: 20, message: "the handler started" }).toBe(true);
    await bus.close();
    expect(bus.isClosed).toBe(true);
  });
});
