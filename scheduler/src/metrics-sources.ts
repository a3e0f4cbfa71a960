// What the scheduler's metrics read at scrape time: the cluster picture, the policies' measure of
// it, the bus and the lease. Built once; each part answers "nothing yet" until start() made it.
import { measureCluster } from "@drover/policy";
import type { Bus } from "@drover/bus";
import type { Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import type { HostSample, MetricsSources } from "./metrics.js";
import { mergeRules } from "./rules/merge.js";
import { hostContention, planningSnapshot, type MovesView } from "./snapshot.js";

/** The scheduler as its metrics see it (services are undefined before start). */
export interface MetricsView {
  readonly state: ClusterState;
  readonly config: SchedulerConfig;
  readonly clock: Clock;
  readonly store: Pick<Store, "migrations" | "maintenance">;
  readonly bus?: Pick<Bus, "isConnected" | "stats">;
  readonly dispatcher?: MovesView;
  readonly leadership?: { mayAct(): boolean };
  readonly webhooksQueued: () => number;
  rejectedReports(): Record<string, number>;
  readonly forecasts?: { readonly clusterMape: number | null };
  readonly power?: { readonly wakeLatencies: { p90(host: string): number | undefined } };
}

export function metricsSources(s: MetricsView): MetricsSources {
  // A planning snapshot of a large cluster takes long (about 0.7 s at 10,000 hosts) and the picture
  // changes only with reports: one measure serves every scrape within a report interval.
  let measured: { atMs: number; value: ReturnType<typeof measureCluster> | null } | undefined;
  let rulesMeasured: { atMs: number; value: { invalid: number; conflicts: number } } | undefined;
  const measure = (now: number) => {
    try {
      return measureCluster(planningSnapshot({ state: s.state, config: s.config, store: s.store, moves: s.dispatcher! }, now), now);
    } catch {
      // A snapshot the policies refuse fails planning as well; the scrape shows no value (NaN).
      return null;
    }
  };
  return {
    reports: () => ({ ingested: s.state.counters.reports, rejected: s.rejectedReports() }),
    hosts: () => hostSamples(s),
    cluster: () => {
      if (!s.dispatcher) return null;
      const now = s.clock.now();
      if (!measured || now - measured.atMs >= s.config.reports.intervalMs) measured = { atMs: now, value: measure(now) };
      return measured.value;
    },
    bus: () => (s.bus ? { connected: s.bus.isConnected, invalidBySubject: s.bus.stats().invalidBySubject } : null),
    leading: () => s.leadership?.mayAct() ?? false,
    rules: () => {
      // Like the cluster measure: one pass over every VM serves the scrapes of a report interval.
      const now = s.clock.now();
      if (!rulesMeasured || now - rulesMeasured.atMs >= s.config.reports.intervalMs) {
        let invalid = 0;
        for (const v of s.state.allVms()) if (v.report.rulesProblem) invalid++;
        rulesMeasured = { atMs: now, value: { invalid, conflicts: mergeRules(s.state.allVms(), s.config.rules).conflicts.length } };
      }
      return rulesMeasured.value;
    },
    webhooksQueued: () => s.webhooksQueued(),
    foresight: () => {
      const wakeP90Ms: { host: string; ms: number }[] = [];
      for (const host of s.state.hosts.keys()) {
        const ms = s.power?.wakeLatencies.p90(host);
        if (ms !== undefined) wakeP90Ms.push({ host, ms });
      }
      return { forecastMape: s.forecasts?.clusterMape ?? null, wakeP90Ms };
    },
  };
}

function hostSamples(s: MetricsView): HostSample[] {
  const now = s.clock.now();
  const out: HostSample[] = [];
  for (const h of s.state.hosts.values()) {
    const r = h.report;
    const power = s.config.hosts[h.id]?.power;
    out.push({
      id: h.id,
      state: s.state.stateOf(h, now),
      usage:
        r && s.state.isReachable(h, now)
          ? {
              cpu: r.usage.cpuFraction,
              memory: r.capacity.memoryMiB > 0 ? r.usage.memoryUsedMiB / r.capacity.memoryMiB : 0,
              contention: hostContention(r.vms),
            }
          : null,
      power: power?.idleW !== undefined && power.maxW !== undefined ? { idleW: power.idleW, maxW: power.maxW } : null,
    });
  }
  return out;
}
