import { describe, expect, it } from "vitest";
import { Bus, InvalidOptionsError, resolveOptions } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";

describe("options", () => {
  it("fills defaults once", () => {
    const o = resolveOptions({ servers: ["nats://127.0.0.1:4222"], name: "x", logger: memoryLogger() });
    expect(o.reconnectTimeWaitMs).toBe(2000);
    expect(o.reconnectJitterMs).toBe(1000);
    expect(o.waitOnFirstConnect).toBe(false);
  });

  it.each([
    [{ servers: [] }, "servers"],
    [{ name: "" }, "name"],
    [{ logger: {} }, "logger"],
    [{ reconnectJitterMs: -1 }, "reconnectJitterMs"],
    [{ nkeySeed: "not-a-seed" }, "nkeySeed"],
    [{ pass: "p" }, "pass"],
    [{ user: "u", token: "t" }, "token"],
    [{ sever: ["x"] }, "sever"],
  ])("rejects %j naming %s", async (bad, field) => {
    const opts = { servers: ["nats://127.0.0.1:4222"], name: "x", logger: memoryLogger(), ...bad };
    const err = await Bus.connect(opts as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect((err as InvalidOptionsError).issues.map((i) => i.field)).toContain(field);
  });
});
