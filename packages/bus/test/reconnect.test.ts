import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { BusStatusType, type BusStatus } from "../src/index.js";
import { connectTo } from "./helpers.js";

const Tick = z.object({ n: z.number().int() });
const Add = z.object({ a: z.number(), b: z.number() });
const Sum = z.object({ sum: z.number() });

describe("server restart", () => {
  it("keeps subscriptions and services alive across a nats-server restart", async () => {
    await using server = await NatsServer.start();
    await using sub = await connectTo(server, { name: "restart-sub" });
    await using pub = await connectTo(server, { name: "restart-pub" });
    const statuses: BusStatus[] = [];
    const connectedAt: Record<string, boolean> = {};
    sub.onStatus((s) => {
      statuses.push(s);
      connectedAt[s.type] = sub.isConnected;
    });
    expect(sub.isConnected).toBe(true);

    const got: number[] = [];
    sub.subscribe("rs.tick", Tick, (m) => void got.push(m.n));
    sub.serve("rs.add", Add, Sum, ({ a, b }) => ({ sum: a + b }));
    await sub.flush();
    pub.publish("rs.tick", Tick, { n: 1 });
    await expect.poll(() => got.length, { timeout: 10_000, interval: 20, message: "the first tick" }).toBe(1);

    const pidBefore = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(pidBefore);
    await expect
      .poll(() => statuses.map((s) => s.type), { timeout: 10_000, interval: 20, message: "reconnect status" })
      .toContain(BusStatusType.Reconnect);
    expect(statuses.map((s) => s.type)).toContain(BusStatusType.Disconnect);
    expect(connectedAt).toMatchObject({ [BusStatusType.Disconnect]: false, [BusStatusType.Reconnect]: true });

    // The publisher reconnects on its own schedule; keep ticking until the resumed subscription sees one.
    let n = 2;
    await vi.waitFor(
      () => {
        if (got.length > 1) return;
        pub.publish("rs.tick", Tick, { n: n++ });
        throw new Error(`waiting for the resumed subscription to see a tick; got ${JSON.stringify(got)}`);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(got[0]).toBe(1);
    expect(got.length).toBeGreaterThan(1);
    await expect(pub.request("rs.add", Add, { a: 20, b: 22 }, Sum, { timeoutMs: 3000 })).resolves.toEqual({ sum: 42 });
    expect(sub.stats().handlerErrors).toBe(0);
  });

  it("fails the first connect with a typed error naming the servers", async () => {
    const server = await NatsServer.start();
    const url = server.url;
    await server.stop();
    const { Bus, BusConnectError } = await import("../src/index.js");
    const { memoryLogger } = await import("@drover/protocol/testing");
    const err = await Bus.connect({ servers: [url], name: "t", logger: memoryLogger(), connectTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusConnectError);
    expect((err as Error).message).toContain(url);
  });
});
