// Demand forecast from a recent history: a statistic of the window (last, mean, max or a
// percentile), optionally raised to a least-squares linear trend projected a few samples ahead,
// times a safety margin. O(window) per series; no allocation for last/mean/max.

import type { ForecastConfig } from "./config.js";

export function forecastSeries(history: readonly number[], cfg: ForecastConfig): number {
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
      const xs = history.slice(start).sort((a, b) => a - b);
      const idx = Math.min(w - 1, Math.max(0, Math.ceil(cfg.percentile * w) - 1));
      stat = xs[idx] ?? 0;
      break;
    }
  }
  if (cfg.trend && w >= 3) stat = Math.max(stat, trendProjection(history, start, n, cfg.horizonSamples));
  return Math.max(0, stat * (1 + cfg.safetyMargin));
}

/** Least-squares line through history[start..n), evaluated `horizon` samples after the last. */
function trendProjection(history: readonly number[], start: number, n: number, horizon: number): number {
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
