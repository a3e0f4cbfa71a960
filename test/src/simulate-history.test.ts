// `drover simulate --from-history` as a process, on a history written by the real ingest path:
// reports over a real nats-server into a scheduler (in this process) and its real SQLite file.
import { describe, expect, it } from "vitest";
import { TokenBook } from "../../scheduler/src/api/tokens.js";
import { harness } from "../../scheduler/test/harness.js";
import { uuid } from "../../scheduler/test/helpers.js";
import { drover } from "./helpers/api.js";

describe("drover simulate --from-history", () => {
  it("replays the recorded load through the policies and prints it beside what happened", { timeout: 300_000 }, async () => {
    await using h = await harness(
      ["a", "b", "c"],
      {
        a: [
          { uuid: uuid(1), name: "web1", cpu: 0.4 },
          { uuid: uuid(2), name: "web2", cpu: 0.2 },
        ],
        b: [{ uuid: uuid(3), name: "db1", cpu: 0.3 }],
      },
      // One sample a minute, written only when the test flushes (no flush timer).
      { history: { resolutionMs: 60_000 }, reports: { intervalMs: 60_000, unreachableAfter: 3, flushIntervalMs: 3_600_000 } },
    );
    const api = h.s.api.address;
    const env = { DROVER_TOKEN: new TokenBook(h.s.store, () => h.clock.now()).create("viewer", "viewer", "test").token };
    const minutesOfReports = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await h.report();
        h.s.flush();
        h.clock.advance(60_000);
      }
    };
    // Before a whole step is recorded, it says so (not "no VM load", nor the usage text).
    await minutesOfReports(3);
    const early = await drover(api, ["simulate", "--from-history"], 120_000, env);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /^drover: simulate --from-history: the recorded history covers 0 whole 5-minute step\(s\) from .*: at least 2 are needed/,
    );
    expect(early.stderr).not.toContain("Usage:");

    // 21 minutes of reports: three whole 5-minute steps at least (the first, partial one is left out).
    await minutesOfReports(18);
    expect(h.s.store.load.ids("vm")).toHaveLength(3);

    const [asJson, asTable, both] = await Promise.all([
      drover(api, ["simulate", "--from-history", "--since", "1d", "--policy", "drover,thr-mmt-0.8", "--json"], 120_000, env),
      drover(api, ["simulate", "--from-history", "--since", "1d"], 120_000, env),
      drover(api, ["simulate", "--from-history", "--traces", "x.csv"], 120_000, env),
    ]);
    expect(asJson.code, asJson.stderr).toBe(0);
    const doc = JSON.parse(asJson.stdout) as {
      hosts: number;
      vms: number;
      steps: number;
      actual: { migrations: number; activeHostsMean: number };
      results: { policy: string; energyKwh: number; migrations: number; slav: number; activeHostsMean: number }[];
    };
    expect(doc).toMatchObject({ hosts: 3, vms: 3, actual: { migrations: 0 } });
    expect(doc.steps).toBeGreaterThanOrEqual(3);
    // All three hosts reported in every step.
    expect(doc.actual.activeHostsMean).toBeGreaterThan(2.5);
    expect(doc.results.map((r) => r.policy)).toEqual(["drover", "thr-mmt-0.8"]);
    for (const r of doc.results) {
      expect(r.energyKwh).toBeGreaterThan(0);
      expect(r.activeHostsMean).toBeGreaterThan(0);
      expect(r.slav).toBeGreaterThanOrEqual(0);
    }
    // The VMs fit on one host: consolidating them needs fewer hosts than the three that stayed on.
    expect(doc.results[0]!.activeHostsMean).toBeLessThan(doc.actual.activeHostsMean);

    expect(asTable.code, asTable.stderr).toBe(0);
    expect(asTable.stdout).toMatch(/3 VMs on 3 hosts, \d+ steps of 300 s, mode clean; 3 host\(s\) without idleW\/maxW assumed/);
    expect(asTable.stdout).toContain("recorded (what happened)");
    expect(asTable.stdout).toContain("drover");

    expect(both.code).toBe(2);
    expect(both.stderr).toContain("give --traces <path> or --from-history (one of them)");
  });
});
