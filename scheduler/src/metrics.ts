// Prometheus metrics of one scheduler instance (own registry: several schedulers may share a
// process in tests). Events (moves ended, plans made, power actions) are counted where they
// happen; everything that describes the present (hosts, cluster, NATS) is read at scrape time
// from `sources`, so nothing has to be kept in sync. scheduler/README.md lists every series.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { HostStates, type HostState, type PreflightCheck } from "@drover/protocol";
import type { MigrationRow } from "@drover/store";

/** One host as the scrape sees it. `usage` only while its reports are fresh. */
export interface HostSample {
  id: string;
  state: HostState;
  /** CPU and memory used (0..1) and vCPU wait share (0..1), as last reported. */
  usage: { cpu: number; memory: number; contention: number } | null;
  /** Configured watts idle and at full CPU (`hosts.<id>.power.idleW`/`maxW`). */
  power: { idleW: number; maxW: number } | null;
}

/** What the scrape reads; each part may be missing before the scheduler has started. */
export interface MetricsSources {
  reports(): { ingested: number; rejected: Record<string, number> };
  hosts(): HostSample[];
  /** Imbalance and active hosts as the policies measure them; null before start or on a snapshot error. */
  cluster(): { imbalance: number; activeHosts: number } | null;
  bus(): { connected: boolean; invalidBySubject: Record<string, number> } | null;
  leading(): boolean;
  /** VMs whose `<drover:rules>` are invalid, and rule conflicts (rules/merge.ts). */
  rules(): { invalid: number; conflicts: number };
  /** Webhook events queued or in delivery. */
  webhooksQueued(): number;
  /** The cluster forecast's one-step error and each host's measured wake p90 (load-history-forecast.ts, power/wake-latency.ts). */
  foresight(): { forecastMape: number | null; wakeP90Ms: { host: string; ms: number }[] };
}

const noSources: MetricsSources = {
  reports: () => ({ ingested: 0, rejected: {} }),
  hosts: () => [],
  cluster: () => null,
  bus: () => null,
  leading: () => false,
  rules: () => ({ invalid: 0, conflicts: 0 }),
  webhooksQueued: () => 0,
  foresight: () => ({ forecastMape: null, wakeP90Ms: [] }),
};

/**
 * A host's estimated draw: linear between idle and full-load watts by CPU; nothing in standby;
 * idle while its load is unknown (waking, silent).
 */
export function hostWatts(h: HostSample): number | null {
  if (!h.power) return null;
  if (h.state === "standby") return 0;
  return h.power.idleW + (h.power.maxW - h.power.idleW) * (h.usage?.cpu ?? 0);
}

export class Metrics {
  readonly registry = new Registry();
  sources: MetricsSources = noSources;

  constructor() {
    const src = () => this.sources;
    const r = [this.registry];
    new Counter({
      name: "drover_reports_total",
      help: "Valid host reports ingested",
      registers: r,
      collect() {
        this.reset();
        this.inc(src().reports().ingested);
      },
    });
    new Counter({
      name: "drover_reports_rejected_total",
      help: "Host reports rejected: invalid (JSON, schema or size), foreign (other cluster), wrong-host (not its subject's host), future (dated ahead), unknown-host, stale (older than the last)",
      labelNames: ["reason"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(src().reports().rejected)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: "drover_bus_invalid_messages_total",
      help: "Messages the bus refused on receipt (bad JSON, schema, size), by subject (a migration id shown as *, folded by the bus)",
      labelNames: ["subject"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const [subject, n] of Object.entries(src().bus()?.invalidBySubject ?? {})) this.inc({ subject }, n);
      },
    });
    new Gauge({
      name: "drover_nats_connected",
      help: "1 while the scheduler's NATS connection is up",
      registers: r,
      collect() {
        this.set(src().bus()?.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: "drover_scheduler_leading",
      help: "1 while this scheduler may act (holds the lease, or leadership is off)",
      registers: r,
      collect() {
        this.set(src().leading() ? 1 : 0);
      },
    });
    new Gauge({
      name: "drover_hosts",
      help: "Hosts by state",
      labelNames: ["state"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const h of src().hosts()) this.inc({ state: h.state });
      },
    });
    new Gauge({
      name: "drover_host_state",
      help: "1 for the state each host is in, 0 for the others",
      labelNames: ["host", "state"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const h of src().hosts()) for (const state of HostStates) this.set({ host: h.id, state }, h.state === state ? 1 : 0);
      },
    });
    const usage = (name: string, help: string, pick: (u: NonNullable<HostSample["usage"]>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["host"] as const,
        registers: r,
        collect() {
          this.reset();
          for (const h of src().hosts()) if (h.usage) this.set({ host: h.id }, pick(h.usage));
        },
      });
    usage("drover_host_cpu_ratio", "CPU in use, 0..1 of the host's capacity, as last reported (hosts reporting now)", (u) => u.cpu);
    usage("drover_host_memory_ratio", "Memory in use, 0..1 of the host's memory, as last reported (hosts reporting now)", (u) => u.memory);
    usage(
      "drover_host_contention_ratio",
      "Share of vCPU time spent waiting for a physical CPU, 0..1, over the host's guests as last reported",
      (u) => u.contention,
    );
    new Gauge({
      name: "drover_host_power_watts",
      help: "Estimated draw of each host with configured idleW/maxW: linear in CPU, 0 in standby",
      labelNames: ["host"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const h of src().hosts()) {
          const w = hostWatts(h);
          if (w !== null) this.set({ host: h.id }, w);
        }
      },
    });
    new Gauge({
      name: "drover_power_saved_watts",
      help: "Estimated watts saved against all hosts on: the idle watts of the hosts in standby (hosts with configured idleW)",
      registers: r,
      collect() {
        let w = 0;
        for (const h of src().hosts()) if (h.state === "standby" && h.power) w += h.power.idleW;
        this.set(w);
      },
    });
    new Gauge({
      name: "drover_forecast_mape",
      help: "One-step error (mean absolute percentage, fraction) of the cluster's seasonal demand forecast over the last week; NaN before a day of history",
      registers: r,
      collect() {
        this.set(src().foresight().forecastMape ?? NaN);
      },
    });
    new Gauge({
      name: "drover_host_wake_latency_p90_seconds",
      help: "p90 of each host's measured wakes (wake sent to healthy report): what plans time its wakes by",
      labelNames: ["host"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const w of src().foresight().wakeP90Ms) this.set({ host: w.host }, w.ms / 1000);
      },
    });
    new Gauge({
      name: "drover_cluster_imbalance",
      help: "Imbalance as the policies measure it (weighted spread of CPU, memory and contention over healthy hosts; 0 = even)",
      registers: r,
      collect() {
        // NaN (no value) rather than a made-up 0 while there is nothing to measure.
        this.set(src().cluster()?.imbalance ?? NaN);
      },
    });
    new Gauge({
      name: "drover_vm_rule_problems",
      help: "Rule problems to fix: invalid (VMs whose <drover:rules> metadata the agent refused), conflict (rules that cannot all hold; see drover vms)",
      labelNames: ["kind"] as const,
      registers: r,
      collect() {
        const p = src().rules();
        this.set({ kind: "invalid" }, p.invalid);
        this.set({ kind: "conflict" }, p.conflicts);
      },
    });
    new Gauge({
      name: "drover_webhook_queued",
      help: "Webhook events waiting for delivery or being delivered, over all receivers",
      registers: r,
      collect() {
        this.set(src().webhooksQueued());
      },
    });
    new Gauge({
      name: "drover_cluster_active_hosts",
      help: "Hosts on (neither standby nor waking) among those the policies plan with",
      registers: r,
      collect() {
        this.set(src().cluster()?.activeHosts ?? NaN);
      },
    });
  }

  readonly migrations = new Counter({
    name: "drover_migrations_total",
    help: "Migrations ended, by outcome and strategy (unknown: none was predicted)",
    labelNames: ["outcome", "strategy"] as const,
    registers: [this.registry],
  });
  readonly migrationMessagesRejected = new Counter({
    name: "drover_migration_messages_rejected_total",
    help: "Migration progress and result messages ignored: wrong-host (not from the move's source)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly preflightFailures = new Counter({
    name: "drover_preflight_failures_total",
    help: "Failed preflight checks, by check (one move may fail several)",
    labelNames: ["check"] as const,
    registers: [this.registry],
  });
  readonly agentCommands = new Counter({
    name: "drover_agent_commands_total",
    help: "Commands agents reported they ran, by kind and issuer: this-scheduler (its id and body are ones this scheduler sent) or other",
    labelNames: ["kind", "issuer"] as const,
    registers: [this.registry],
  });
  readonly apiAuthFailures = new Counter({
    name: "drover_api_auth_failures_total",
    help: "API requests refused for their token: no-token, malformed, unknown, revoked, expired (401) or forbidden (403, the role does not grant it)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly hostEventsRejected = new Counter({
    name: "drover_host_events_rejected_total",
    help: "Host events ignored: wrong-host (payload host is not its subject's host), no-command (a command event without its command)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly migrationsInFlight = new Gauge({
    name: "drover_migrations_in_flight",
    help: "Migrations running now",
    registers: [this.registry],
  });
  readonly migrationsQueued = new Gauge({
    name: "drover_migrations_queued",
    help: "Migrations waiting for a slot",
    registers: [this.registry],
  });
  readonly dispatchLatency = new Histogram({
    name: "drover_dispatch_accept_seconds",
    help: "Time from sending a migrate command to the agent's accepted reply",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly migrationDuration = new Histogram({
    name: "drover_migration_duration_seconds",
    help: "Measured migration duration (moves with a result), by strategy",
    labelNames: ["strategy"] as const,
    buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly migrationDowntime = new Histogram({
    name: "drover_migration_downtime_seconds",
    help: "Measured guest downtime of a migration (moves with a result), by strategy",
    labelNames: ["strategy"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly predictionError = new Histogram({
    name: "drover_migration_prediction_error_ratio",
    help: "Succeeded moves: (measured - predicted) / predicted, of duration and of downtime (0 = exact, 1 = twice as long)",
    labelNames: ["quantity"] as const,
    buckets: [-0.75, -0.5, -0.25, -0.1, 0, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly planCompute = new Histogram({
    name: "drover_plan_compute_seconds",
    help: "Time one policy run takes (snapshot + policy), by plan kind; its count is the planning rounds",
    labelNames: ["kind"] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly plans = new Counter({
    name: "drover_plans_total",
    help: "Plans made, by kind and mode",
    labelNames: ["kind", "mode"] as const,
    registers: [this.registry],
  });
  readonly powerActions = new Counter({
    name: "drover_power_actions_total",
    help: "Power actions, by action and outcome",
    labelNames: ["action", "outcome"] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: "drover_webhook_deliveries_total",
    help: "Webhook deliveries by event and outcome: delivered, failed (every attempt failed), dropped (the receiver's queue was full)",
    labelNames: ["event", "outcome"] as const,
    registers: [this.registry],
  });

  /** Counts a move that ended (any outcome) with what it measured against what was predicted. */
  migrationEnded(row: MigrationRow): void {
    const strategy = row.strategy ?? "unknown";
    this.migrations.inc({ outcome: row.status, strategy });
    if (row.measuredDurationMs !== null) this.migrationDuration.observe({ strategy }, row.measuredDurationMs / 1000);
    if (row.measuredDowntimeMs !== null) this.migrationDowntime.observe({ strategy }, row.measuredDowntimeMs / 1000);
    if (row.status !== "succeeded") return;
    const error = (measured: number | null, predicted: number | null) =>
      measured !== null && predicted !== null && predicted > 0 ? (measured - predicted) / predicted : null;
    const d = error(row.measuredDurationMs, row.predictedDurationMs);
    if (d !== null) this.predictionError.observe({ quantity: "duration" }, d);
    const t = error(row.measuredDowntimeMs, row.predictedDowntimeMs);
    if (t !== null) this.predictionError.observe({ quantity: "downtime" }, t);
  }

  /** Counts each failed check of a preflight. */
  preflightFailed(checks: readonly PreflightCheck[]): void {
    for (const c of checks) if (!c.ok) this.preflightFailures.inc({ check: c.check });
  }
}
