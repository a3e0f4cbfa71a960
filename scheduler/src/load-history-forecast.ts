// Forecasts from the load history: the seasonal model of @drover/policy (double seasonal
// Holt-Winters: daily and weekly patterns and the trend) fitted on a series' 5-minute grid. The
// cluster's total demand is refitted once per bucket and goes into every planning snapshot; a host's
// or a VM's is fitted when asked (the API), so 200,000 VMs cost nothing until someone looks.
import { defaultSeasonalConfig, SeasonalForecaster, type DemandForecast } from "@drover/policy";
import type { Logger } from "@drover/protocol";
import { LOAD_BUCKET_MS, type LoadKind, type LoadPoint, type Store } from "@drover/store";
import type { SchedulerConfig } from "./config.js";

/**
 * The series on a regular grid of 5-minute steps from its first point up to (not including) the
 * bucket of `untilMs`: a bucket's mean, or the mean of the samples in a step; NaN where none.
 */
export function loadGrid(points: readonly LoadPoint[], untilMs: number): { startMs: number; cpuMhz: number[] } {
  const end = Math.floor(untilMs / LOAD_BUCKET_MS);
  const first = points[0];
  if (first === undefined) return { startMs: end * LOAD_BUCKET_MS, cpuMhz: [] };
  const start = Math.floor(first.atMs / LOAD_BUCKET_MS);
  const n = Math.max(0, end - start);
  const sum = new Float64Array(n);
  const count = new Float64Array(n);
  for (const p of points) {
    const i = Math.floor(p.atMs / LOAD_BUCKET_MS) - start;
    if (i < 0 || i >= n) continue;
    sum[i] = (sum[i] ?? 0) + p.cpuMhz * p.samples;
    count[i] = (count[i] ?? 0) + p.samples;
  }
  const cpuMhz = Array.from(sum, (s, i) => ((count[i] ?? 0) > 0 ? s / (count[i] as number) : NaN));
  return { startMs: start * LOAD_BUCKET_MS, cpuMhz };
}

export interface SeriesForecast {
  /** One-step error over the last week (fraction), null until a day has been seen. */
  mape: number | null;
  /** A full day has been seen: the daily pattern is in the forecast. */
  seasonal: boolean;
  forecast: DemandForecast;
}

/** Fits the seasonal model on a series read from `sinceMs` and forecasts `steps` 5-minute steps from now's bucket. */
export function fitSeries(points: readonly LoadPoint[], nowMs: number, steps: number): SeriesForecast {
  const g = loadGrid(points, nowMs);
  const f = new SeasonalForecaster(defaultSeasonalConfig);
  for (const y of g.cpuMhz) f.update(y);
  const fromMs = Math.floor(nowMs / LOAD_BUCKET_MS) * LOAD_BUCKET_MS;
  return { mape: f.mape, seasonal: f.seasonal, forecast: { fromMs, stepMs: LOAD_BUCKET_MS, cpuMhz: f.forecast(steps) } };
}

export class LoadForecasts {
  private cluster: SeriesForecast | undefined;
  private fittedBucket = -1;

  constructor(private readonly d: { store: Pick<Store, "load">; config: SchedulerConfig; log: Logger }) {}

  private get steps(): number {
    return Math.ceil(this.d.config.history.forecastHorizonMs / LOAD_BUCKET_MS);
  }

  /** Refits the cluster's forecast once per bucket (cheap: one series of at most a few thousand points). */
  refresh(nowMs: number): void {
    const { history, cluster } = this.d.config;
    if (!history.enabled || !history.forecast) return;
    const bucket = Math.floor(nowMs / LOAD_BUCKET_MS);
    if (bucket === this.fittedBucket) return;
    this.fittedBucket = bucket;
    try {
      this.cluster = this.forSeries("cluster", cluster, nowMs);
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, "load history: the cluster forecast could not be fitted");
    }
  }

  /**
   * What a planning snapshot carries: the cluster's forecast once the model has seen a whole day
   * (before that it knows no pattern, and the recent window alone decides, as without history).
   */
  demandForecast(): DemandForecast | undefined {
    return this.cluster?.seasonal ? this.cluster.forecast : undefined;
  }

  /** The cluster forecast's one-step error (fraction), null before a day of history. */
  get clusterMape(): number | null {
    return this.cluster?.mape ?? null;
  }

  /** Fits one series on the history the forecaster reads (`history.forecastLookbackMs`). */
  forSeries(kind: LoadKind, id: string, nowMs: number): SeriesForecast {
    const since = Math.max(0, nowMs - this.d.config.history.forecastLookbackMs);
    return fitSeries(this.d.store.load.series(kind, id, since, nowMs), nowMs, this.steps);
  }
}
