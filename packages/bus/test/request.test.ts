import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { InvalidMessageError, NoRespondersError, RemoteError, RemoteErrorCode, RequestTimeoutError, type Bus } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { connectTo } from "./helpers.js";

const Add = z.object({ a: z.number(), b: z.number() });
const Sum = z.object({ sum: z.number() });

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

describe("request / reply", () => {
  it("returns the validated reply", async () => {
    await using _svc = bus.serve("r.add", Add, Sum, async ({ a, b }) => ({ sum: a + b }));
    await bus.flush();
    await expect(bus.request("r.add", Add, { a: 2, b: 40 }, Sum, { timeoutMs: 2000 })).resolves.toEqual({ sum: 42 });
  });

  it("handles requests concurrently", async () => {
    // Each handler waits until a second one is running: served one at a time, this would time out.
    let active = 0;
    let release!: () => void;
    const two = new Promise<void>((r) => (release = r));
    await using _svc = bus.serve("r.slow", Add, Sum, async ({ a, b }) => {
      if (++active === 2) release();
      await two;
      return { sum: a + b };
    });
    await bus.flush();
    const sums = await Promise.all([1, 2, 3, 4].map((a) => bus.request("r.slow", Add, { a, b: 0 }, Sum, { timeoutMs: 3000 })));
    expect(sums.map((s) => s.sum)).toEqual([1, 2, 3, 4]);
  });

  it("times out with a typed error when nobody answers in time", async () => {
    // A subscriber that never replies: the server has a responder, so this is a timeout.
    const silent = bus.nc.subscribe("r.silent");
    await bus.flush();
    const t0 = Date.now();
    const err = await bus.request("r.silent", Add, { a: 1, b: 1 }, Sum, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as RequestTimeoutError).code).toBe("timeout");
    expect((err as RequestTimeoutError).subject).toBe("r.silent");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    silent.unsubscribe();
  });

  it("fails fast with NoRespondersError when no service listens", async () => {
    const err = await bus.request("r.nobody", Add, { a: 1, b: 1 }, Sum, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRespondersError);
    expect((err as NoRespondersError).code).toBe("no-responders");
  });

  it("never sends an invalid request", async () => {
    let called = 0;
    await using _svc = bus.serve("r.strict", Add, Sum, ({ a, b }) => {
      called++;
      return { sum: a + b };
    });
    await bus.flush();
    const err = await bus.request("r.strict", Add, { a: 1 } as z.input<typeof Add>, Sum).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMessageError);
    expect((err as InvalidMessageError).field).toBe("b");
    expect((err as InvalidMessageError).direction).toBe("request");
    expect(called).toBe(0);
  });

  it("answers an invalid request on the wire with an error naming the field, and keeps serving", async () => {
    let called = 0;
    await using _svc = bus.serve("r.wire", Add, Sum, ({ a, b }) => {
      called++;
      return { sum: a + b };
    });
    await bus.flush();
    const before = bus.stats().invalid;
    // A sender with a looser schema: the bad request does reach the wire.
    const Loose = z.object({ a: z.unknown(), b: z.unknown() });
    const err = await bus.request("r.wire", Loose, { a: 1, b: "two" }, Sum).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    const re = err as RemoteError;
    expect(re.remoteCode).toBe(RemoteErrorCode.InvalidRequest);
    expect(re.field).toBe("b");
    expect(re.remoteMessage).toMatch(/b: /);
    expect(called).toBe(0);
    expect(bus.stats().invalid - before).toBe(1);
    expect(bus.stats().invalidBySubject["r.wire"]).toBe(1);
    await expect(bus.request("r.wire", Add, { a: 1, b: 2 }, Sum)).resolves.toEqual({ sum: 3 });
  });

  it("turns a handler failure into a typed remote error; the service survives", async () => {
    await using _svc = bus.serve("r.fail", Add, Sum, ({ a, b }) => {
      if (a < 0) throw new Error("negative\nnot allowed");
      return { sum: a + b };
    });
    await bus.flush();
    const err = await bus.request("r.fail", Add, { a: -1, b: 0 }, Sum).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteCode).toBe(RemoteErrorCode.HandlerFailed);
    expect((err as RemoteError).remoteMessage).toBe("negative not allowed");
    await expect(bus.request("r.fail", Add, { a: 1, b: 1 }, Sum)).resolves.toEqual({ sum: 2 });
  });

  it("refuses to send an invalid result from a handler", async () => {
    await using _svc = bus.serve("r.badresult", Add, Sum, () => ({ sum: "many" }) as unknown as z.input<typeof Sum>);
    await bus.flush();
    const err = await bus.request("r.badresult", Add, { a: 1, b: 1 }, Sum).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteCode).toBe(RemoteErrorCode.InvalidReply);
    expect((err as RemoteError).field).toBe("sum");
  });

  it("rejects and counts an invalid reply from a foreign responder", async () => {
    const raw = bus.nc.subscribe("r.foreign", {
      callback: (_e, m) => {
        m.respond(new TextEncoder().encode(JSON.stringify({ total: 2 })));
      },
    });
    await bus.flush();
    const before = bus.stats().invalid;
    const err = await bus.request("r.foreign", Add, { a: 1, b: 1 }, Sum).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMessageError);
    expect((err as InvalidMessageError).direction).toBe("reply");
    expect((err as InvalidMessageError).field).toBe("sum");
    expect(bus.stats().invalid - before).toBe(1);
    raw.unsubscribe();
  });
});
