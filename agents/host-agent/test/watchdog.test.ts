import type { EscalationStep } from "@drover/protocol";
import { describe, expect, it } from "vitest";
import { ConvergenceWatchdog, stepLabel } from "../src/watchdog.js";

const ladder: EscalationStep[] = [{ action: "raise-downtime", toMs: 1000 }, { action: "pause" }, { action: "abort" }];

describe("convergence watchdog", () => {
  it("does nothing while remaining memory keeps shrinking", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 3, stallMs: 5000 }, 0);
    for (let i = 0; i < 20; i++) expect(w.observe({ iteration: i, remainingBytes: 100e6 - i * 4e6 }, i * 400)).toBeNull();
  });

  it("climbs one rung per stall window, by iterations, and then stops", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 3, stallMs: 60_000 }, 0);
    const steps: string[] = [];
    for (let i = 0; i < 40; i++) {
      const s = w.observe({ iteration: i, remainingBytes: 20e6 + (i % 2) * 1e5 }, i * 100);
      if (s) steps.push(stepLabel(s));
    }
    expect(steps).toEqual(["raise-downtime:1000", "pause", "abort"]);
    expect(w.exhausted).toBe(true);
  });

  it("stalls by time when iterations do not advance", () => {
    const w = new ConvergenceWatchdog({ ladder, stallIterations: 100, stallMs: 2000 }, 0);
    expect(w.observe({ iteration: 1, remainingBytes: 50e6 }, 0)).toBeNull();
    expect(w.observe({ iteration: 1, remainingBytes: 49.5e6 }, 1999)).toBeNull();
    expect(w.observe({ iteration: 1, remainingBytes: 49.5e6 }, 2000)).toEqual({ action: "raise-downtime", toMs: 1000 });
  });

  it("never escalates with an empty ladder", () => {
    const w = new ConvergenceWatchdog({ ladder: [], stallIterations: 1, stallMs: 1 }, 0);
    for (let i = 0; i < 10; i++) expect(w.observe({ iteration: i, remainingBytes: 1e6 }, i * 1000)).toBeNull();
  });
});
