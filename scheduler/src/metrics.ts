// Prometheus metrics of one scheduler instance (own registry: several schedulers may share a
// process in tests).
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  /** Ingest counters are read at scrape time: the report path stays free of metric updates. */
  ingestSource: (() => { reports: number; rejected: Record<string, number> }) | undefined;
  readonly reports: Counter;
  readonly reportsRejected: Counter<"reason">;

  constructor() {
    const src = () => this.ingestSource?.() ?? { reports: 0, rejected: {} };
    this.reports = new Counter({
      name: "drover_reports_total",
      help: "Valid host reports ingested",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(src().reports);
      },
    });
    this.reportsRejected = new Counter({
      name: "drover_reports_rejected_total",
      help: "Host reports rejected: invalid (JSON, schema or size), foreign (other cluster), wrong-host (not its subject's host), future (dated ahead), unknown-host, stale (older than the last)",
      labelNames: ["reason"] as const,
      registers: [this.registry],
      collect() {
        const c = src();
        this.reset();
        for (const [reason, n] of Object.entries(c.rejected)) this.inc({ reason }, n);
      },
    });
  }

  readonly migrations = new Counter({
    name: "drover_migrations_total",
    help: "Migrations finished, by outcome",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly migrationMessagesRejected = new Counter({
    name: "drover_migration_messages_rejected_total",
    help: "Migration progress and result messages ignored: wrong-host (not from the move's source)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly agentCommands = new Counter({
    name: "drover_agent_commands_total",
    help: "Commands agents reported they ran, by kind and issuer: this-scheduler (its id and body are ones this scheduler sent) or other",
    labelNames: ["kind", "issuer"] as const,
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
    help: "Measured migration duration",
    buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly hosts = new Gauge({ name: "drover_hosts", help: "Hosts by state", labelNames: ["state"] as const, registers: [this.registry] });
  readonly planCompute = new Histogram({
    name: "drover_plan_compute_seconds",
    help: "Time one policy run takes (snapshot + policy), by plan kind",
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
}
