// Overload detectors of the reference (CloudSim 3.0 power package), as pure functions of a
// host's utilisation history (newest first, zero tail trimmed, fractions of host MIPS).

/** THR fallback used by MAD/IQR/LR/LRR while the history is too short. */
export const fallbackThreshold = 0.7;

/** MathUtil.trimZeroTail: drops trailing (oldest) exact zeros. */
export function trimZeroTail(h: ArrayLike<number>): number[] {
  let n = h.length;
  while (n > 0 && h[n - 1] === 0) n--;
  return Array.from({ length: n }, (_, i) => h[i] as number);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median absolute deviation. */
export function mad(xs: readonly number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

/** MathUtil.iqr: sort, q1 = x[round(0.25(n+1)) - 1], q3 = x[round(0.75(n+1)) - 1], Java half-up. */
export function iqr(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const javaRound = (x: number) => Math.floor(x + 0.5);
  const q1 = javaRound(0.25 * (s.length + 1)) - 1;
  const q3 = javaRound(0.75 * (s.length + 1)) - 1;
  return (s[q3] as number) - (s[q1] as number);
}

/**
 * Tricube weights k_i of the local regression over n points (x = 1..n), k_0 = k_1 = k_2.
 * CloudSim 3.0 hands 1/k to Flanagan as error weights, which weighs squared residuals by k^2.
 */
export function tricubeWeights(n: number): number[] {
  const top = n - 1;
  const k = new Array<number>(n).fill(0);
  for (let i = 2; i < n; i++) k[i] = Math.pow(1 - Math.pow((top - i) / top, 3), 3);
  k[0] = k[1] = k[2] as number;
  return k;
}

/** Weighted least squares fit y = a + b x with weights w (as given, not squared). */
export function wlsFit(x: readonly number[], y: readonly number[], w: readonly number[]): { a: number; b: number } {
  let sw = 0,
    sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w[i] as number,
      xi = x[i] as number,
      yi = y[i] as number;
    sw += wi;
    sx += wi * xi;
    sy += wi * yi;
    sxx += wi * xi * xi;
    sxy += wi * xi * yi;
  }
  const det = sw * sxx - sx * sx;
  const b = (sw * sxy - sx * sy) / det;
  const a = (sy - b * sx) / sw;
  return { a, b };
}

/** Regression weighting: "tricube2" = CloudSim 3.0 (Q10), "ols" = CloudSim >= 3.0.3. */
export type LrWeighting = "tricube2" | "ols";

/** LR fit over the newest n values of hist (newest first), chronological x = 1..n. */
export function lrFit(hist: ArrayLike<number>, n = 10, weighting: LrWeighting = "tricube2"): { a: number; b: number } {
  const y = Array.from({ length: n }, (_, i) => hist[n - 1 - i] as number);
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const w = weighting === "ols" ? new Array<number>(n).fill(1) : tricubeWeights(n).map((k) => k * k);
  return wlsFit(x, y, w);
}

/** Predicted utilisation ahead: a + b (n + migrationIntervals). */
export function lrPredict(hist: ArrayLike<number>, migrationIntervals: number, weighting: LrWeighting = "tricube2"): number {
  const { a, b } = lrFit(hist, 10, weighting);
  return a + b * (10 + migrationIntervals);
}

/**
 * Coefficients g such that lrPredict(hist, m) = sum_i g[i] * hist[i] (hist newest first): the fit
 * is linear in y, which lets the simulator predict a host from per-VM terms in O(1).
 */
export function lrPredictionCoefficients(migrationIntervals: number, weighting: LrWeighting = "tricube2"): Float64Array {
  const g = new Float64Array(10);
  for (let i = 0; i < 10; i++) {
    const e = new Array<number>(10).fill(0);
    e[i] = 1;
    g[i] = lrPredict(e, migrationIntervals, weighting);
  }
  return g;
}

/** LRR: robust (bisquare) refit of LR. NaN when the residual scale is 0 (reads as not overloaded). */
export function lrrPredict(hist: ArrayLike<number>, migrationIntervals: number): number {
  const n = 10;
  const y = Array.from({ length: n }, (_, i) => hist[n - 1 - i] as number);
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const k = tricubeWeights(n);
  const first = wlsFit(
    x,
    y,
    k.map((v) => v * v),
  );
  const r = y.map((yi, i) => yi - (first.a + first.b * (x[i] as number)));
  const s6 = median(r.map(Math.abs)) * 6;
  const w = new Array<number>(n).fill(0);
  for (let i = 2; i < n; i++) {
    const m = Math.pow(1 - Math.pow((r[i] as number) / s6, 2), 2);
    const mk = m > 0 ? m * (k[i] as number) : 0;
    w[i] = mk * mk;
  }
  w[0] = w[1] = w[2] as number;
  const { a, b } = wlsFit(x, y, w);
  return a + b * (n + migrationIntervals);
}

export const DetectorKind = { thr: "thr", iqr: "iqr", mad: "mad", lr: "lr", lrr: "lrr" } as const;
export type DetectorKind = (typeof DetectorKind)[keyof typeof DetectorKind];

export interface DetectorSpec {
  readonly kind: DetectorKind;
  /** THR: threshold; IQR/MAD: safety s in 1 - s*spread; LR/LRR: safety s in s*pred >= 1. */
  readonly parameter: number;
}

/**
 * Is a host overloaded? reqFraction = sum of current requests / host MIPS; hist = host history
 * (newest first, trimmed); migrationIntervals = ceil(max VM migration time / interval).
 */
export function isOverloaded(
  d: DetectorSpec,
  reqFraction: number,
  hist: readonly number[],
  migrationIntervals: number,
  weighting: LrWeighting = "tricube2",
): boolean {
  switch (d.kind) {
    case "thr":
      return reqFraction > d.parameter;
    case "mad":
      if (hist.length < 12) return reqFraction > fallbackThreshold;
      return reqFraction > 1 - d.parameter * mad(hist);
    case "iqr":
      if (hist.length < 12) return reqFraction > fallbackThreshold;
      return reqFraction > 1 - d.parameter * iqr(hist);
    case "lr":
      if (hist.length < 10) return reqFraction > fallbackThreshold;
      return d.parameter * lrPredict(hist, migrationIntervals, weighting) >= 1;
    case "lrr":
      if (hist.length < 10) return reqFraction > fallbackThreshold;
      return d.parameter * lrrPredict(hist, migrationIntervals) >= 1;
  }
}
