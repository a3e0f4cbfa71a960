// `drover simulate --from-history` on a history a real lab recorded: test/data/lab-history.sqlite is
// the store of a lab scheduler (three libvirtd hosts, QEMU guests, their agents; two operator moves
// and a guest added midway), written by `npm run record:lab-history`. A scheduler opens a copy of it
// and the CLI replays that period through the policies, beside what the lab really did.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "@drover/bus/testing";
import { TokenBook } from "../../scheduler/src/api/tokens.js";
import { ManualClock } from "../../scheduler/src/clock.js";
import { Scheduler } from "../../scheduler/src/scheduler.js";
import { config } from "../../scheduler/test/helpers.js";
import { drover } from "./helpers/api.js";
import { REPO_ROOT } from "./helpers/drover-lab.js";

const FIXTURE = join(REPO_ROOT, "test", "data", "lab-history.sqlite");
// Kept for ever: the recorded period is older than any retention by the time this runs.
const FOREVER_MS = 100 * 365 * 86_400_000;
// The scheduler asked long after the recording (as a copied store always is): the replay ends where
// the record does, not at its clock.
const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));

let nats: NatsServer;
let dir: string;
let s: Scheduler;
let env: Record<string, string>;

beforeAll(async () => {
  nats = await NatsServer.start();
  dir = await mkdtemp(join(tmpdir(), "drover-lab-history-"));
  await copyFile(FIXTURE, join(dir, "drover.sqlite"));
  const power = { idleW: 90, maxW: 200 };
  s = Scheduler.create(
    config(nats.url, dir, {
      cluster: "lab",
      retainMs: FOREVER_MS,
      history: { retainMs: FOREVER_MS },
      hosts: { h1: { power }, h2: { power }, h3: { power } },
    }),
    { autoTick: false, clock },
  );
  await s.start();
  env = { DROVER_TOKEN: new TokenBook(s.store, () => clock.now()).create("viewer", "viewer", "test").token };
}, 60_000);

afterAll(async () => {
  await s?.shutdown();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("drover simulate --from-history on a lab-recorded history", () => {
  it("replays the lab's period through the policies beside what the lab did", { timeout: 300_000 }, async () => {
    const r = await drover(
      s.api.address,
      ["simulate", "--from-history", "--since", "2026-01-01T00:00:00Z", "--policy", "drover,lr-mmt-1.2", "--json"],
      240_000,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      hosts: number;
      vms: number;
      steps: number;
      actual: { migrations: number; activeHostsMean: number; energyKwh: number | null };
      results: { policy: string; energyKwh: number; migrations: number; slav: number; activeHostsMean: number }[];
    };
    // The lab's three hosts and four guests (vm4 from midway), two operator moves.
    expect(doc).toMatchObject({ hosts: 3, vms: 4, actual: { migrations: 2 } });
    expect(doc.steps).toBeGreaterThanOrEqual(3);
    expect(doc.actual.activeHostsMean).toBeGreaterThan(2.5);
    expect(doc.actual.energyKwh).toBeGreaterThan(0);
    expect(doc.results.map((x) => x.policy)).toEqual(["drover", "lr-mmt-1.2"]);
    for (const x of doc.results) {
      expect(x.energyKwh).toBeGreaterThan(0);
      expect(x.slav).toBeGreaterThanOrEqual(0);
    }
    // Four small guests fit on fewer hosts than the three the lab kept on, at less energy.
    const drov = doc.results[0]!;
    expect(drov.activeHostsMean).toBeLessThan(doc.actual.activeHostsMean);
    expect(drov.energyKwh).toBeLessThan(doc.actual.energyKwh!);
  });
});
