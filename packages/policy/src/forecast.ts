// Demand forecast from a recent history: a statistic of the window (last, mean, max or a
// percentile), optionally raised to a least-squares linear trend projected a few samples ahead,
// times a safety margin. O(window) per series; no allocation for last/mean/max.

import type { ForecastConfig } from "./config.js";

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
