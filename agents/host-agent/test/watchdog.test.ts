import type { EscalationStep } from "@drover/protocol";
import { describe, expect, it } from "vitest";
import { ConvergenceWatchdog, stepLabel, type JobSample } from "../src/watchdog.js";

const ladder: EscalationStep[] = [{ action: "raise-downtime", toMs: 1000 }, { action: "pause" }, { action: "abort" }];
const MB = 1e6;

/** Samples of a migration: each pass starts with `starts[i]` MB left and drains linearly in `passMs`. */
function run(w: ConvergenceWatchdog, starts: number[], passMs = 4000, everyMs = 500): Array<{ atMs: number; step: string }> {
  const out: Array<{ atMs: number; step: string }> = [];
  let t = 0;
  // Before the job has data, libvirt reports zeros: they must not count as a low.
  for (let k = 0; k < 3; k++, t += everyMs) expect(w.observe({ iteration: 0, remainingBytes: 0 }, t)).toBeNull();
  starts.forEach((start, i) => {
    for (let e = 0; e < passMs; e += everyMs, t += everyMs) {
      const s: JobSample = { iteration: i + 1, remainingBytes: start * MB * (1 - e / passMs) };
      const step = w.observe(s, t);
      if (step) out.push({ atMs: t, step: stepLabel(step) });
    }
  });
  return out;
}

describe("convergence watchdog", () => {
  it("leaves a converging migration alone, however long the first pass", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 1, stallMs: 3000 }, 0);
    expect(run(w, [100, 40, 16, 6, 2], 20_000)).toEqual([]);
  });

  it("climbs one rung per stalled pass and stops at the end of the ladder", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 1, stallMs: 60_000 }, 0);
    const steps = run(w, [100, 28, 27, 27.5, 26, 27, 28]);
    expect(steps.map((s) => s.step)).toEqual(["raise-downtime:1000", "pause", "abort"]);
    expect(w.exhausted).toBe(true);
  });

  it("waits for stallIterations passes without progress", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 3, stallMs: 60_000 }, 0);
    expect(run(w, [100, 28, 27, 27, 27]).map((s) => s.step)).toEqual(["raise-downtime:1000"]);
  });

  it("treats a pass that drains by less than 10% as no progress", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 1, stallMs: 60_000 }, 0);
    expect(run(w, [100, 50, 46]).map((s) => s.step)).toEqual(["raise-downtime:1000"]);
  });

  it("stalls by time when a pass stops moving", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 100, stallMs: 2000 }, 0);
    expect(w.observe({ iteration: 1, remainingBytes: 50 * MB }, 0)).toBeNull();
    expect(w.observe({ iteration: 1, remainingBytes: 49.9 * MB }, 1999)).toBeNull();
    expect(w.observe({ iteration: 1, remainingBytes: 49.9 * MB }, 2000)).toEqual({ action: "raise-downtime", toMs: 1000 });
  });

  it("never escalates with an empty ladder", () => {
    const w = new ConvergenceWatchdog({ ladder: [], stallIterations: 1, stallMs: 1 }, 0);
    expect(run(w, [100, 90, 90, 90])).toEqual([]);
  });
});
