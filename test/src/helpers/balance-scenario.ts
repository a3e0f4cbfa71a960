// The balance scenario, shared by test/src/balance.lab.test.ts (what cannot flake) and
// test/bench/cost-model.ts (how close the cost model's predictions come on this machine).
import { ModesResponse } from "@drover/protocol";
import { call } from "./api.js";
import type { DroverLabOptions } from "./drover-lab.js";

const busy = { busy: 1, dirtyMb: 4 };
/** How often the scheduler plans a balance round in this scenario. */
export const BALANCE_EVERY_MS = 10_000;

export function balanceScenario(net: number): DroverLabOptions {
  return {
    net,
    hosts: 3,
    guests: [
      { name: "vm1", host: "h1", workload: busy },
      { name: "vm2", host: "h1", memoryMiB: 128, workload: busy },
      { name: "vm3", host: "h2", memoryMiB: 128 },
      { name: "vm4", host: "h3" },
    ],
    // A round every 10 s: reports (every 2 s) catch up with a move before the next round plans.
    // One migration at a time: the cost model predicts a migration alone on its link and hosts
    // (two at once on this 2-core machine each take about three times longer), and it learns only
    // from such moves. It fits its constants once two moves were measured.
    // Balancing starts off: a TCG guest moved while it boots can be lost (QEMU 7.2), and
    // DroverLab.start waits for each guest's first tick where it was defined. startBalancing()
    // turns it on once every guest ticks.
    scheduler: {
      policies: { balance: { mode: "off", everyMs: BALANCE_EVERY_MS } },
      limits: { perSource: 1, perDestination: 1, perCluster: 1 },
      migration: { calibration: { minSamples: 2 } },
    },
  };
}

export const HOSTS = ["h1", "h2", "h3"];

/** Turns the automatic balancer on (the scenario starts it off while the guests boot). */
export async function startBalancing(api: string): Promise<void> {
  await call(api, "POST", "/v1/modes/balance", ModesResponse, { mode: "automatic" });
}
