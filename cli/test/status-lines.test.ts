// `drover status`: which scheduler leads, and a leader that has not taken charge yet says why.
import { describe, expect, it } from "vitest";
import type { StatusResponse } from "@drover/protocol";
import { controlLines } from "../src/commands/api.js";

const nats = {
  connected: true,
  server: "nats://127.0.0.1:4222",
  serverName: "n1",
  cluster: "lab",
  knownServers: ["a", "b", "c"],
  leaseReplicas: null,
};
const leading = { enabled: true, self: "s1", leading: true, leader: { id: "s1", apiUrl: null }, leaseRevision: 7 };

describe("status lines", () => {
  it("name the leader, and a leader still taking charge with its last failure", () => {
    const control = (takingCharge: NonNullable<StatusResponse["control"]>["leadership"]["takingCharge"]) =>
      controlLines({ leadership: { ...leading, takingCharge }, nats });
    expect(control(null)).toEqual(["scheduler: s1 leads (lease revision 7)", expect.stringMatching(/^NATS: connected to n1/)]);
    const since = Date.parse("2026-12-05T15:00:00Z");
    expect(control({ sinceMs: since, failedAttempts: 0, lastError: null })[1]).toBe(
      "  taking charge since 2026-12-05T15:00:00.000Z, nothing sent yet",
    );
    expect(control({ sinceMs: since, failedAttempts: 3, lastError: "kv keys drover-journal: stream not found" })[1]).toBe(
      "  taking charge since 2026-12-05T15:00:00.000Z, nothing sent yet: attempt 3 failed: kv keys drover-journal: stream not found",
    );
  });
});
