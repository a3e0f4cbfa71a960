// The seasonal forecaster (double seasonal Holt-Winters) and how a snapshot's demand forecast
// reaches the power-off rule and consolidation's wakes.
import { describe, expect, it } from "vitest";
import { defaultSeasonalConfig, plan, PowerOffBlockCode, powerOffBlockers, SeasonalForecaster, seasonalPeak } from "../src/index.js";
import type { DemandForecast, Plan } from "../src/index.js";
import { host, NOW, snap, vm } from "./fixtures.js";

/** A day of 24 steps, a week of 7 days: busy hours 8-18 on weekdays, a slow rise week on week. */
const DAY = 24;
const WEEK = 7 * DAY;
/** Deterministic noise of up to ±5 %, the same for a given step. */
const noise = (t: number): number => (((Math.imul(t + 1, 2_654_435_761) >>> 0) % 1000) / 1000 - 0.5) * 0.1;
const load = (t: number): number => {
  const hour = t % DAY;
  const weekday = Math.floor(t / DAY) % 7 < 5;
  return (1000 + t * 0.5 + (hour >= 8 && hour < 18 ? (weekday ? 4000 : 1500) : 0)) * (1 + noise(t));
};
const cfg = { ...defaultSeasonalConfig, periods: [DAY, WEEK] as const };

describe("SeasonalForecaster", () => {
  it("learns the daily and weekly pattern and the trend: a week ahead it is far closer than the last value held", () => {
    const f = new SeasonalForecaster(cfg);
    for (let t = 0; t < 4 * WEEK; t++) f.update(load(t));
    expect(f.seasonal).toBe(true);
    // One-step error over the last week: about the noise.
    expect(f.mape!).toBeGreaterThan(0);
    expect(f.mape!).toBeLessThan(0.1);
    const t0 = 4 * WEEK;
    const ahead = f.forecast(WEEK);
    const held = load(t0 - 1);
    let ape = 0;
    let heldApe = 0;
    for (let k = 0; k < WEEK; k++) {
      ape += Math.abs(ahead[k]! - load(t0 + k)) / load(t0 + k);
      heldApe += Math.abs(held - load(t0 + k)) / load(t0 + k);
    }
    expect(ape / WEEK).toBeLessThan(0.1);
    expect(ape / WEEK).toBeLessThan(heldApe / WEEK / 4);
    // The morning rise on a weekday and the quieter weekend day are foreseen within 15 %.
    for (const k of [7, 9, 12, 20, 5 * DAY + 12]) expect(Math.abs((ahead[k]! - load(t0 + k)) / load(t0 + k))).toBeLessThan(0.15);
  });

  it("fills a missing point with its own forecast, keeping the grid aligned", () => {
    const a = new SeasonalForecaster(cfg);
    for (let t = 0; t < 3 * WEEK; t++) a.update(t % 50 === 0 ? NaN : load(t));
    expect(a.observations).toBe(3 * WEEK);
    expect(Math.abs((a.forecast(9)[8]! - load(3 * WEEK + 8)) / load(3 * WEEK + 8))).toBeLessThan(0.15);
    // Nothing to say before a first day is seen.
    const b = new SeasonalForecaster(cfg);
    for (let t = 0; t < DAY - 1; t++) b.update(load(t));
    expect(b.forecast(3)).toEqual([]);
    expect(b.seasonal).toBe(false);
    expect(() => new SeasonalForecaster({ periods: [10, 5], alpha: 0.1, beta: 0, gamma: 0, omega: 0 })).toThrow(/periods/);
  });

  it("seasonalPeak reads the steps from now to a step past the horizon", () => {
    const f: DemandForecast = { fromMs: 0, stepMs: 100, cpuMhz: [1, 5, 2, 9, 3] };
    expect(seasonalPeak(f, 150, 0)).toBe(5); // steps 1 and 2 (150..250)
    expect(seasonalPeak(f, 150, 100)).toBe(9);
    expect(seasonalPeak(undefined, 0, 0)).toBeNull();
    expect(seasonalPeak(f, 1000, 0)).toBeNull();
  });
});

describe("a demand forecast in the snapshot", () => {
  const wakes = (p: Plan) => p.steps.filter((s) => s.kind === "wake").map((s) => (s.kind === "wake" ? s.hostId : ""));
  // a is on at 2000 of 8000 MHz; b is in standby and takes 10 minutes to wake.
  const cluster = (demandForecast?: DemandForecast) =>
    snap(
      [host("a"), host("b", { state: "standby", power: { canPowerOff: true, canWake: true, wakeLatencyMs: 600_000 } })],
      [vm("v1", "a", 1000, { vcpus: 4 }), vm("v2", "a", 1000, { vcpus: 4 })],
      demandForecast ? { demandForecast } : {},
    );
  const morning: DemandForecast = { fromMs: NOW, stepMs: 300_000, cpuMhz: [2000, 2500, 8600, 8800] };

  it("wakes a standby host before the forecast morning demand arrives; without it, nothing", () => {
    expect(wakes(plan(cluster(), "consolidate", { nowMs: NOW }))).toEqual([]);
    expect(wakes(plan(cluster(morning), "consolidate", { nowMs: NOW }))).toEqual(["b"]);
    // Demand that comes later than the wake takes (an hour away) wakes nothing yet.
    const later = { ...morning, cpuMhz: [2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 7800] };
    expect(wakes(plan(cluster(later), "consolidate", { nowMs: NOW }))).toEqual([]);
  });

  it("keeps a host on that the forecast needs within its wake latency", () => {
    const on = snap(
      [host("a"), host("b", { power: { canPowerOff: true, canWake: true, wakeLatencyMs: 600_000 } })],
      [vm("v1", "a", 1000, { vcpus: 4 }), vm("v2", "a", 1000, { vcpus: 4 })],
    );
    expect(powerOffBlockers(on, "b")).toEqual([]);
    expect(powerOffBlockers({ ...on, demandForecast: morning }, "b").map((b) => b.code)).toEqual([PowerOffBlockCode.forecastDemand]);
  });
});
