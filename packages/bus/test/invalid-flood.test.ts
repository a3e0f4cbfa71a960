import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import type { Bus } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo } from "./helpers.js";

const Ping = z.object({ n: z.number().int() });
const intervalMs = 500;

let server: NatsServer;
let bus: Bus;
const log = memoryLogger();

beforeAll(async () => {
  server = await NatsServer.start();
  // A short interval, so that the counted drops are written while the test watches.
  bus = await connectTo(server, { logger: log, invalidLogIntervalMs: intervalMs });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("a flood of invalid messages", () => {
  it("is counted in full but logged in a handful of lines, and the bus keeps delivering", async () => {
    const subject = "t.flood";
    const got: number[] = [];
    const sub = bus.subscribe(subject, Ping, (m) => void got.push(m.n));
    await bus.flush();
    const enc = new TextEncoder();
    const bad = enc.encode(JSON.stringify({ n: "seven" }));
    const burst = 5000;
    const start = Date.now();
    for (let i = 0; i < burst; i++) bus.nc.publish(subject, i % 2 ? bad : enc.encode("{not json"));
    await expect
      .poll(() => bus.stats().invalidBySubject[subject] ?? 0, { timeout: 20_000, interval: 20, message: "every invalid message counted" })
      .toBe(burst);

    const lines = () => log.entries.filter((e) => e.level === "warn" && e.obj["subject"] === subject);
    const logged = () => lines().reduce((sum, e) => sum + Number(e.obj["count"]), 0);
    // The counts of the burst reach the log through the flush timer, in a few lines.
    await expect.poll(logged, { timeout: 10_000, interval: 50, message: "every drop reported in some line" }).toBe(burst);
    // One line at once, then at most one per interval however long the burst took here (not one per message).
    expect(lines().length).toBeLessThanOrEqual(2 + Math.ceil((Date.now() - start) / intervalMs));
    expect(lines().length).toBeLessThan(burst / 100);
    // The first line comes at once, naming the first failing field.
    expect(lines()[0]?.obj).toMatchObject({ count: 1, field: "(json)", direction: "receive" });
    const reasons: Record<string, number> = {};
    for (const e of lines()) {
      for (const [k, v] of Object.entries(e.obj["dropped"] as Record<string, number>)) reasons[k] = (reasons[k] ?? 0) + v;
    }
    expect(reasons).toEqual({ "(json)": burst / 2, n: burst / 2 });

    bus.publish(subject, Ping, { n: 7 });
    await expect.poll(() => got, { timeout: 10_000, interval: 20, message: "the valid message after the flood" }).toEqual([7]);
    expect(bus.isConnected).toBe(true);
    await sub.drain();
  });
});
