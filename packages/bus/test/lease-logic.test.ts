import { describe, expect, it } from "vitest";
import { expire, initialRole, isLeading, leaseTiming, roleAfter, type LeaseRole } from "../src/index.js";

const timing = leaseTiming(3000);

describe("lease logic", () => {
  it("renews three times per TTL and keeps a margin", () => {
    expect(timing).toEqual({ ttlMs: 3000, attemptEveryMs: 1000, marginMs: 300 });
    expect(() => leaseTiming(500)).toThrow(/ttlMs must be an integer of at least 1000, got 500/);
  });

  it("counts a held lease from when the request was sent, minus the margin", () => {
    const r = roleAfter(initialRole, { outcome: "held", revision: 7 }, 1000, 1400, timing);
    expect(r).toEqual({ kind: "leader", revision: 7, validUntil: 1000 + 3000 - 300 });
    expect(isLeading(r, 3699)).toBe(true);
    expect(isLeading(r, 3700)).toBe(false);
  });

  it("a leader whose renewal finds the lease taken steps down at once and names the new holder", () => {
    const leader: LeaseRole = { kind: "leader", revision: 7, validUntil: 5000 };
    const r = roleAfter(leader, { outcome: "taken", holder: { id: "b" }, revision: 9 }, 1000, 1010, timing);
    expect(r).toEqual({ kind: "follower", leader: { id: "b" }, leaderRevision: 9 });
    expect(isLeading(r, 1010)).toBe(false);
  });

  it("a failed renewal keeps the leader only until its validity ends", () => {
    const leader: LeaseRole = { kind: "leader", revision: 7, validUntil: 5000 };
    expect(roleAfter(leader, { outcome: "failed", error: "timeout" }, 4000, 4500, timing)).toBe(leader);
    expect(roleAfter(leader, { outcome: "failed", error: "timeout" }, 4000, 5000, timing)).toEqual(initialRole);
    expect(expire(leader, 5001)).toEqual(initialRole);
  });

  it("a follower whose attempt fails stays a follower of whoever it knew", () => {
    const f: LeaseRole = { kind: "follower", leader: { id: "a" }, leaderRevision: 3 };
    expect(roleAfter(f, { outcome: "failed", error: "no responders" }, 0, 10, timing)).toBe(f);
  });
});
