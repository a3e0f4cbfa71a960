// The morning restore: before the consolidation window closes, the standby hosts Drover's plans
// powered off are woken again (an operator's power-off stays off), consolidation stops and the load
// is spread again.
//
// With the cluster's seasonal forecast (a whole day of load history seen) each host is woken just in
// time. The forecast demand over the restore's span (from `restoreBeforeEndMs` before the close until
// the slowest of these hosts could be healthy after it) says, step by step, how many hosts must be on:
// consolidation's own rule, as the wakes its policy plans for that demand (band, spare floor, relief of
// overloaded hosts; the VMs' ceiling), on the planning snapshot where only these hosts may be woken and
// none ranks by watts, so they are taken fastest expected wake first and failing hosts last, as the
// capacity wake takes them. Each missing host is woken its expected wake (`WakeLatencies.expectedMs`:
// the p90 measured, or the wake timeout) plus `restoreMarginMs` before its demand; the others
// `restoreMarginMs` before the close, so after the window every host is back, as without a forecast.
// Without one (less than a day of history, or history off) every host is woken at the span's start.
import { plan, type ClusterSnapshot, type DemandForecast } from "@drover/policy";
import type { Logger } from "@drover/protocol";
import { LOAD_BUCKET_MS, type Store } from "@drover/store";
import type { Clock } from "../clock.js";
import type { ClusterState } from "../cluster-state.js";
import type { SchedulerConfig, WindowConfig } from "../config.js";
import { timeOfDay, type WindowState } from "../window.js";
import type { PowerManager } from "./power-manager.js";

export interface RestoreDeps {
  state: ClusterState;
  store: Pick<Store, "power" | "maintenance">;
  clock: Clock;
  config: SchedulerConfig;
  log: Logger;
  power: Pick<PowerManager, "requestWake" | "wakeLatencies" | "planningSnapshot">;
}

/** One wake of the restore: when it is sent and why. */
export interface RestoreWake {
  host: string;
  atMs: number;
  reason: string;
}

export interface RestoreSchedule {
  /** Timed by the seasonal forecast (else the fixed offset). */
  byForecast: boolean;
  /** Every host to wake, soonest first. */
  wakes: RestoreWake[];
  /** The restore begins (consolidation stops) at the first wake, or the sweep before the close. */
  beginsMs: number;
  /** The start of the forecast it was planned on. */
  forecastFromMs?: number;
}

/** The hosts' changes (each wake makes some) plan the restore again at most this often. */
const RECOMPUTE_MIN_MS = 30_000;

/** Who the restore's wakes are recorded as requested by (what consolidation's schedule does). */
const RESTORE_BY = "schedule:consolidate";

export class CapacityRestore {
  /** The window (by opening time) the state below belongs to. */
  private windowMs: number | null = null;
  private began = false;
  /** Hosts this restore has woken in this window: each once, as the restore before it did. */
  private readonly woken = new Set<string>();
  private cached: { window: string; hosts: string; atMs: number; schedule: RestoreSchedule } | undefined;
  /** Whether a standby host is Drover's to wake, judged once per mode change of the host (the store is not read every tick). */
  private readonly ours = new Map<string, { sinceMs: number; ours: boolean }>();

  constructor(private readonly d: RestoreDeps) {}

  /** Whether the restore of this open window has begun (consolidation then stops). */
  restoring(w: WindowState): boolean {
    return w.active && this.windowMs === w.openedMs && this.began;
  }

  /**
   * Every tick while the window is open and consolidation is on: sends the restore's wakes that are
   * due. Returns whether the window is restoring.
   */
  tick(w: WindowState, cfg: WindowConfig): boolean {
    if (!w.active || w.openedMs === null || w.closesMs === null) return false;
    if (this.windowMs !== w.openedMs) {
      this.windowMs = w.openedMs;
      this.began = false;
      this.woken.clear();
      this.cached = undefined;
    }
    const now = this.d.clock.now();
    const candidates = this.candidates(now);
    // No wake can be due before the span's start less the slowest wake and the margin: nothing to plan yet.
    const slowest = candidates.reduce((m, h) => Math.max(m, this.d.power.wakeLatencies.expectedMs(h)), 0);
    const earliest = Math.min(w.closesMs - cfg.restoreBeforeEndMs - slowest - cfg.restoreMarginMs, w.closesMs - cfg.restoreMarginMs);
    if (!this.began && now < earliest) return false;
    const p = this.schedule(w, cfg, now, candidates);
    if (!this.began && now < p.beginsMs) return false;
    if (!this.began) {
      this.began = true;
      this.d.log.info(
        { closesMs: w.closesMs, byForecast: p.byForecast, wakes: p.wakes.map((x) => ({ host: x.host, atMs: x.atMs })) },
        p.byForecast
          ? "restoring capacity before the consolidation window ends, each host as the seasonal forecast needs it"
          : "restoring capacity before the consolidation window ends (no seasonal forecast: the fixed restoreBeforeEndMs)",
      );
    }
    const wakeable = new Set(candidates);
    for (const x of p.wakes) {
      // A schedule up to RECOMPUTE_MIN_MS old may name a host no longer Drover's standby one.
      if (x.atMs > now || this.woken.has(x.host) || !wakeable.has(x.host)) continue;
      // A host in its wake back-off is refused (and recorded) every time: it is woken once that ends.
      if (this.d.state.hosts.get(x.host)?.wakeFailed) continue;
      this.woken.add(x.host);
      try {
        // Not replaced on failure by the capacity wake's candidate: every other standby host is either
        // woken here too or not Drover's to wake (an operator's power-off). The failed host is marked,
        // so the next plan needs another one in its place.
        this.d.power.requestWake(x.host, RESTORE_BY, x.reason);
      } catch (e) {
        this.d.log.warn({ host: x.host, err: (e as Error).message }, "restore: wake refused");
      }
    }
    return true;
  }

  /**
   * The restore's wakes for this window as of now: computed again when what they depend on changes.
   * The window, its settings, the forecast (refitted once per bucket) or a failed wake (its host is
   * replaced) at once; the hosts' states and expected wakes at most every RECOMPUTE_MIN_MS: each wake
   * changes them, and on a big cluster one computation plans consolidation for each new peak of the
   * forecast (a second or more).
   */
  private schedule(w: WindowState, cfg: WindowConfig, now: number, candidates: string[]): RestoreSchedule {
    const { state, power } = this.d;
    const bucketMs = Math.floor(now / LOAD_BUCKET_MS) * LOAD_BUCKET_MS;
    const failed: string[] = [];
    const parts = [[...this.woken].join(",")];
    for (const h of state.hosts.values()) {
      parts.push(`${h.id}:${state.stateOf(h, now)}`);
      if (h.wakeFailed) failed.push(h.id);
    }
    const window = [bucketMs, w.closesMs, JSON.stringify(cfg), failed.join(",")].join("|");
    for (const h of candidates) parts.push(`${h}=${power.wakeLatencies.expectedMs(h)}`);
    const hosts = parts.join("|");
    const c = this.cached;
    // The forecast is refitted by the store's flush once the bucket turns: one planned before that is
    // planned again until the refit is there.
    const stale =
      c === undefined ||
      c.window !== window ||
      (c.schedule.forecastFromMs ?? bucketMs) < bucketMs ||
      (c.hosts !== hosts && now - c.atMs >= RECOMPUTE_MIN_MS);
    if (stale) this.cached = { window, hosts, atMs: now, schedule: this.compute(w, cfg, now, candidates) };
    return (this.cached as NonNullable<typeof c>).schedule;
  }

  /** Standby hosts Drover powered off, not in maintenance, with a wake method, not yet woken by this restore. */
  private candidates(now: number): string[] {
    const { state, store, config } = this.d;
    const out: string[] = [];
    for (const h of state.hosts.values()) {
      if (this.woken.has(h.id) || state.stateOf(h, now) !== "standby") continue;
      if ((config.hosts[h.id]?.power.wake ?? "none") === "none") continue;
      let seen = this.ours.get(h.id);
      if (seen?.sinceMs !== h.modeSinceMs) {
        // Only hosts Drover's plans put to sleep; an operator's power-off stays off.
        const last = store.power.list({ host: h.id, limit: 5 }).find((p) => p.action === "power-off" && p.status === "succeeded");
        const drover = !last || last.requestedBy.startsWith("plan:") || last.requestedBy.startsWith("schedule:");
        this.ours.set(h.id, (seen = { sinceMs: h.modeSinceMs, ours: drover && !store.maintenance.active(h.id) }));
      }
      if (seen.ours) out.push(h.id);
    }
    return out;
  }

  private compute(w: WindowState, cfg: WindowConfig, now: number, candidates: string[]): RestoreSchedule {
    const closes = w.closesMs as number;
    const spanStart = closes - cfg.restoreBeforeEndMs;
    const ends = timeOfDay(closes, cfg.timezone);
    const fixed = (why: string): RestoreSchedule => {
      const reason = `restore capacity ${Math.round(cfg.restoreBeforeEndMs / 60_000)} min before the consolidation window ends at ${ends} (${why})`;
      return { byForecast: false, beginsMs: spanStart, wakes: candidates.map((host) => ({ host, atMs: spanStart, reason })) };
    };
    const snapshot = this.d.power.planningSnapshot();
    const forecast = snapshot.demandForecast;
    if (forecast === undefined) return fixed(`no seasonal forecast: ${this.noForecastWhy()}`);
    try {
      return this.byForecast(cfg, now, closes, candidates, snapshot, forecast);
    } catch (e) {
      // The restore must happen whatever the planning says: as without a forecast, then.
      this.d.log.warn({ err: (e as Error).message }, "restore: the forecast-timed wakes could not be planned; the fixed offset instead");
      return fixed(`the forecast-timed restore failed: ${(e as Error).message}`);
    }
  }

  private byForecast(
    cfg: WindowConfig,
    now: number,
    closes: number,
    candidates: string[],
    snapshot: ClusterSnapshot,
    forecast: DemandForecast,
  ): RestoreSchedule {
    const spanStart = closes - cfg.restoreBeforeEndMs;
    const sweepMs = closes - cfg.restoreMarginMs;
    const ends = timeOfDay(closes, cfg.timezone);
    const { wakeLatencies } = this.d.power;
    const expected = new Map(candidates.map((h) => [h, wakeLatencies.expectedMs(h)]));
    let slowest = 0;
    for (const ms of expected.values()) slowest = Math.max(slowest, ms);
    const spanEnd = closes + slowest + cfg.restoreMarginMs;
    const needed = this.neededHosts(snapshot, forecast, candidates, now, spanStart, spanEnd);
    const wakes: RestoreWake[] = [];
    for (const host of candidates) {
      const lead = (expected.get(host) as number) + cfg.restoreMarginMs;
      const why = `${wakeLatencies.explain(host)}, ${Math.round(cfg.restoreMarginMs / 1000)} s margin`;
      const need = needed.get(host);
      const justInTime = need === undefined ? Infinity : need.atMs - lead;
      const when = need && timeOfDay(need.atMs, cfg.timezone);
      const demand =
        need === undefined
          ? undefined
          : need.demandMhz === undefined
            ? `the forecast ends at ${when}, so it is taken as needed from then`
            : `forecast demand ${need.demandMhz.toFixed(0)} MHz at ${when} needs ${host} on`;
      if (justInTime < sweepMs) wakes.push({ host, atMs: justInTime, reason: `restore: ${demand}; ${host}'s ${why}` });
      else
        wakes.push({
          host,
          atMs: sweepMs,
          reason:
            `restore: the consolidation window ends at ${ends}, every host Drover powered off is woken before then ` +
            `(${demand ?? "the forecast needs it no sooner"}; ${host}'s ${why})`,
        });
    }
    wakes.sort((a, b) => a.atMs - b.atMs || a.host.localeCompare(b.host));
    return { byForecast: true, wakes, beginsMs: Math.min(sweepMs, wakes[0]?.atMs ?? sweepMs), forecastFromMs: forecast.fromMs };
  }

  /**
   * When each candidate is first needed on, and for what demand: step by step through the forecast
   * over the span, the hosts consolidation would wake for the highest demand so far (the hosts it
   * wakes for a higher demand extend those for a lower one). Past the forecast's end the demand is
   * unknown: a host not needed before is taken as needed there.
   */
  private neededHosts(
    snapshot: ClusterSnapshot,
    forecast: DemandForecast,
    candidates: readonly string[],
    now: number,
    spanStart: number,
    spanEnd: number,
  ): Map<string, { atMs: number; demandMhz?: number }> {
    const may = new Set(candidates);
    const base: ClusterSnapshot = {
      ...snapshot,
      hosts: snapshot.hosts.map((h) => ({
        ...h,
        power: { canPowerOff: h.power.canPowerOff, canWake: h.power.canWake && may.has(h.id), wakeLatencyMs: h.power.wakeLatencyMs },
      })),
    };
    const pc = this.d.config.policies.consolidate;
    const wakesFor = (demandMhz: number): string[] =>
      plan({ ...base, demandForecast: { fromMs: now, stepMs: forecast.stepMs, cpuMhz: [demandMhz] } }, pc.policy ?? "consolidate", {
        nowMs: now,
        seed: 1,
        args: pc.args,
        unlimited: true,
      }).steps.flatMap((s) => (s.kind === "wake" ? [s.hostId] : []));

    const needed = new Map<string, { atMs: number; demandMhz?: number }>();
    let peak = -Infinity;
    for (let i = 0; i < forecast.cpuMhz.length; i++) {
      const start = forecast.fromMs + i * forecast.stepMs;
      if (start + forecast.stepMs <= spanStart) continue;
      if (start >= spanEnd) break;
      const demandMhz = forecast.cpuMhz[i] as number;
      if (!Number.isFinite(demandMhz) || demandMhz <= peak) continue;
      peak = demandMhz;
      const atMs = Math.max(start, spanStart);
      for (const host of wakesFor(demandMhz)) if (!needed.has(host)) needed.set(host, { atMs, demandMhz });
    }
    const forecastEnd = forecast.fromMs + forecast.cpuMhz.length * forecast.stepMs;
    if (forecastEnd < spanEnd) for (const host of candidates) if (!needed.has(host)) needed.set(host, { atMs: Math.max(forecastEnd, now) });
    return needed;
  }

  private noForecastWhy(): string {
    const { history } = this.d.config;
    if (!history.enabled) return "the load history is off (history.enabled)";
    if (!history.forecast) return "the forecast is off (history.forecast)";
    return "less than a day of load history";
  }
}
