// Demand forecast from a recent history: a statistic of the window (last, mean, max or a
// percentile), optionally raised to a least-squares linear trend projected a few samples ahead,
// times a safety margin. O(window) per series; no allocation for last/mean/max.

import type { ForecastConfig } from "./config.js";
import type { DemandForecast } from "./types.js";

/**
 * The last `w` samples of a history, oldest first, into `out[off..off+w)`; a shorter history is
 * padded at the front with its oldest sample (so sums of histories align at the newest sample).
 */
export function windowInto(history: ArrayLike<number>, w: number, out: Float64Array, off: number): void {
  const n = history.length;
  for (let i = 0; i < w; i++) {
    const j = n - w + i;
    out[off + i] = j >= 0 ? (history[j] ?? 0) : (history[0] ?? 0);
  }
}

export function forecastSeries(history: ArrayLike<number>, cfg: ForecastConfig): number {
  const n = history.length;
  if (n === 0) return 0;
  const w = Math.min(cfg.windowSamples, n);
  const start = n - w;
  let stat: number;
  switch (cfg.statistic) {
    case "last":
      stat = history[n - 1] ?? 0;
      break;
    case "mean": {
      let s = 0;
      for (let i = start; i < n; i++) s += history[i] ?? 0;
      stat = s / w;
      break;
    }
    case "max": {
      let m = -Infinity;
      for (let i = start; i < n; i++) m = Math.max(m, history[i] ?? 0);
      stat = m;
      break;
    }
    case "percentile": {
      const xs = Array.from({ length: w }, (_, i) => history[start + i] ?? 0).sort((a, b) => a - b);
      const idx = Math.min(w - 1, Math.max(0, Math.ceil(cfg.percentile * w) - 1));
      stat = xs[idx] ?? 0;
      break;
    }
  }
  if (cfg.trend && w >= 3) stat = Math.max(stat, trendProjection(history, start, n, cfg.horizonSamples));
  return Math.max(0, stat * (1 + cfg.safetyMargin));
}

/** Least-squares line through history[start..n), evaluated `horizon` samples after the last. */
function trendProjection(history: ArrayLike<number>, start: number, n: number, horizon: number): number {
  const w = n - start;
  const meanX = (w - 1) / 2;
  let meanY = 0;
  for (let i = start; i < n; i++) meanY += history[i] ?? 0;
  meanY /= w;
  let sxy = 0;
  let sxx = 0;
  for (let i = start; i < n; i++) {
    const dx = i - start - meanX;
    sxy += dx * ((history[i] ?? 0) - meanY);
    sxx += dx * dx;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return meanY + slope * (w - 1 - meanX + horizon);
}

// ---------------------------------------------------------------------------------------------
// Daily and weekly patterns plus the trend: additive double seasonal Holt-Winters exponential
// smoothing (J. W. Taylor, "Short-term electricity demand forecasting using double seasonal
// exponential smoothing", Journal of the Operational Research Society 54 (2003) 799-805), on a
// regular grid (the load history's 5-minute buckets). With y the observation, l the level, b the
// trend, d and w the two seasonal indices of periods m1 < m2:
//   l_t = α(y_t − d_{t−m1} − w_{t−m2}) + (1−α)(l_{t−1} + b_{t−1})
//   b_t = β(l_t − l_{t−1}) + (1−β) b_{t−1}
//   d_t = γ(y_t − l_t − w_{t−m2}) + (1−γ) d_{t−m1}
//   w_t = ω(y_t − l_t − d_{t−m1}) + (1−ω) w_{t−m2}
//   ŷ_{t+k} = l_t + k b_t + d_{t−m1+k} + w_{t−m2+k}
// The seasonal indices start at 0 and are learnt from the data; a missing point (NaN) is replaced
// by the model's own one-step forecast, so the grid stays aligned.

export interface SeasonalConfig {
  /** Seasonal periods in steps, shorter first: a day and a week of 5-minute steps by default. */
  readonly periods: readonly [number, number];
  readonly alpha: number;
  readonly beta: number;
  readonly gamma: number;
  readonly omega: number;
}

/**
 * 5-minute steps: a day is 288 of them, a week 2016. The smoothing constants were chosen on a
 * synthetic office week (seasonal-forecast.test.ts): a slow level and trend, a daily index that
 * changes slowly, and a weekly one that learns a slot it sees only once a week in a few weeks.
 */
export const defaultSeasonalConfig: SeasonalConfig = { periods: [288, 2016], alpha: 0.02, beta: 0.001, gamma: 0.05, omega: 0.5 };

export class SeasonalForecaster {
  private level = NaN;
  private trend = 0;
  private readonly daily: Float64Array;
  private readonly weekly: Float64Array;
  /** Observations taken (the grid position is this modulo each period). */
  private n = 0;
  /** Absolute percentage errors of the last long period's one-step forecasts (circular). */
  private readonly apes: Float64Array;
  private apeNext = 0;
  private apeCount = 0;
  private apeSum = 0;

  constructor(private readonly cfg: SeasonalConfig = defaultSeasonalConfig) {
    const [m1, m2] = cfg.periods;
    if (!(Number.isInteger(m1) && Number.isInteger(m2) && m1 >= 1 && m2 >= m1))
      throw new RangeError(`seasonal periods must be integers with 1 <= m1 <= m2, got ${m1}, ${m2}`);
    this.daily = new Float64Array(m1);
    this.weekly = new Float64Array(m2);
    this.apes = new Float64Array(m2);
  }

  /** Steps observed so far. */
  get observations(): number {
    return this.n;
  }

  /** At least one full short period seen: the daily pattern has been learnt once. */
  get seasonal(): boolean {
    return this.n >= this.cfg.periods[0];
  }

  /**
   * Mean absolute percentage error of the one-step-ahead forecasts over the last long period (a
   * week), after the first short period (zero observations are skipped), as a fraction; null
   * before any such forecast.
   */
  get mape(): number | null {
    return this.apeCount === 0 ? null : Math.max(0, this.apeSum) / this.apeCount;
  }

  private noteError(ape: number): void {
    if (this.apeCount === this.apes.length) this.apeSum -= this.apes[this.apeNext] ?? 0;
    else this.apeCount++;
    this.apes[this.apeNext] = ape;
    this.apeSum += ape;
    this.apeNext = (this.apeNext + 1) % this.apes.length;
  }

  /** Takes the next observation of the grid (NaN: missing). */
  update(y: number): void {
    const { alpha, beta, gamma, omega, periods } = this.cfg;
    const i1 = this.n % periods[0];
    const i2 = this.n % periods[1];
    const d = this.daily[i1] ?? 0;
    const w = this.weekly[i2] ?? 0;
    if (this.n < periods[0]) {
      // The first short period initialises the model (Taylor's classical decomposition, simplified):
      // the level is its mean, each daily index its deviation from that mean.
      this.daily[i1] = y;
      this.n++;
      if (this.n === periods[0]) this.initialise();
      return;
    }
    const predicted = this.level + this.trend + d + w;
    if (!Number.isFinite(y)) y = predicted;
    else if (this.n >= periods[0] && Math.abs(y) > 1e-9) this.noteError(Math.abs((y - Math.max(0, predicted)) / y));
    const prevLevel = this.level;
    this.level = alpha * (y - d - w) + (1 - alpha) * (this.level + this.trend);
    this.trend = beta * (this.level - prevLevel) + (1 - beta) * this.trend;
    this.daily[i1] = gamma * (y - this.level - w) + (1 - gamma) * d;
    this.weekly[i2] = omega * (y - this.level - d) + (1 - omega) * w;
    this.n++;
  }

  private initialise(): void {
    let sum = 0;
    let count = 0;
    for (const y of this.daily)
      if (Number.isFinite(y)) {
        sum += y;
        count++;
      }
    this.level = count === 0 ? NaN : sum / count;
    for (let i = 0; i < this.daily.length; i++) {
      const y = this.daily[i] ?? NaN;
      this.daily[i] = Number.isFinite(y) ? y - this.level : 0;
    }
    // No observation at all in the first period: start again with the next.
    if (count === 0) this.n = 0;
  }

  /** Forecasts of the next `steps` grid points (never negative); [] before the first short period. */
  forecast(steps: number): number[] {
    if (this.n < this.cfg.periods[0] || Number.isNaN(this.level)) return [];
    const [m1, m2] = this.cfg.periods;
    const out: number[] = [];
    for (let k = 1; k <= steps; k++) {
      const t = this.n - 1 + k;
      out.push(Math.max(0, this.level + k * this.trend + (this.daily[t % m1] ?? 0) + (this.weekly[t % m2] ?? 0)));
    }
    return out;
  }
}

/**
 * The cluster's forecast CPU demand from a seasonal model, as the snapshot carries it: the peak of
 * the forecast over the steps that overlap [nowMs, nowMs + aheadMs + stepMs] (a host woken now
 * serves from aheadMs on, and the next round comes a step later), or null when there is none.
 */
export function seasonalPeak(f: DemandForecast | undefined, nowMs: number, aheadMs: number): number | null {
  if (f === undefined || f.cpuMhz.length === 0) return null;
  let peak: number | null = null;
  for (let i = 0; i < f.cpuMhz.length; i++) {
    const start = f.fromMs + i * f.stepMs;
    const end = start + f.stepMs;
    if (end <= nowMs) continue;
    if (start > nowMs + aheadMs + f.stepMs) break;
    peak = Math.max(peak ?? 0, f.cpuMhz[i] ?? 0);
  }
  return peak;
}
