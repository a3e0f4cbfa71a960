// The test harness itself: a set-up that fails part-way ends what it had started.
import { describe, expect, it, vi } from "vitest";
import { harness } from "./harness.js";
import { NatsServer } from "./helpers.js";

describe("the scheduler test harness", () => {
  it("stops the nats-server it started when setting up fails after it", async () => {
    const start = vi.spyOn(NatsServer, "start");
    try {
      // No VM map: setting up throws once NATS and the fake agents are up.
      await expect(harness(["a"], undefined as never)).rejects.toThrow(TypeError);
      const server = await start.mock.results[0]!.value;
      expect(server.isRunning).toBe(false);
    } finally {
      start.mockRestore();
    }
  });
});
