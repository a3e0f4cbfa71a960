import { describe, expect, it, vi } from "vitest";
import { RestartSupervisor, type SupervisedUnit } from "../src/index.js";

/** A unit that crashes whenever told to; counts its starts. */
function flaky(name: string) {
  const u = {
    name,
    down: false,
    stoppedOnPurpose: false,
    starts: 0,
    crashed: async () => u.down && !u.stoppedOnPurpose,
    start: async () => {
      u.starts++;
      u.down = false;
    },
  };
  return u satisfies SupervisedUnit;
}

const policy = { delayMs: 20, burst: 3, intervalMs: 60_000, checkEveryMs: 5 };

describe("RestartSupervisor (Restart=on-failure with a start limit)", () => {
  it("starts a crashed unit again after the delay, and leaves one stopped on purpose alone", async () => {
    const a = flaky("a");
    const b = flaky("b");
    const s = new RestartSupervisor(() => [a, b], undefined, policy);
    s.start();
    try {
      a.down = true;
      b.down = true;
      b.stoppedOnPurpose = true;
      await vi.waitFor(() => expect(a.starts).toBe(1), { timeout: 5000, interval: 5 });
      expect(a.down).toBe(false);
      expect(b.starts).toBe(0);
    } finally {
      await s.stop();
    }
  });

  it("gives up after `burst` starts within the interval, until reset", async () => {
    const a = flaky("a");
    const s = new RestartSupervisor(() => [a], undefined, policy);
    s.start();
    try {
      for (let i = 1; i <= policy.burst; i++) {
        a.down = true;
        await vi.waitFor(() => expect(a.starts).toBe(i), { timeout: 5000, interval: 5 });
      }
      a.down = true;
      // Far more rounds than a restart takes: the unit stays down.
      await new Promise((r) => setTimeout(r, policy.delayMs * 10));
      expect(a.starts).toBe(policy.burst);
      s.resetFailed("a");
      await vi.waitFor(() => expect(a.starts).toBe(policy.burst + 1), { timeout: 5000, interval: 5 });
    } finally {
      await s.stop();
    }
  });

  it("starts nothing once stopped", async () => {
    const a = flaky("a");
    const s = new RestartSupervisor(() => [a], undefined, policy);
    s.start();
    await s.stop();
    a.down = true;
    await new Promise((r) => setTimeout(r, policy.delayMs * 5));
    expect(a.starts).toBe(0);
  });
});
