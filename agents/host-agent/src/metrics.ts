// The agent's own Prometheus metrics (own registry: tests run several agents in one process) and
// the HTTP listener that serves them. Process metrics (RSS, CPU) are added by main.ts, which owns
// the process. agents/host-agent/README.md lists every series.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { urlOf, type Logger, type MigrationResult } from "@drover/protocol";
import type { Hypervisor } from "./hypervisor.js";

/** What the scrape reads from the running agent. */
export interface AgentMetricsSources {
  libvirtUp(): boolean;
  natsConnected(): boolean;
  migrationsRunning(): number;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly libvirtCalls = new Histogram({
    name: "drover_agent_libvirt_call_seconds",
    help: "Latency of each call into libvirt, by call and result (ok or error); the migration job itself is not a call",
    labelNames: ["call", "result"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: this.r,
  });
  readonly reports = new Counter({ name: "drover_agent_reports_total", help: "Host reports published", registers: this.r });
  readonly reportErrors = new Counter({
    name: "drover_agent_report_errors_total",
    help: "Reports not published, by stage: build (reading the host and libvirt failed) or publish (the bus refused it)",
    labelNames: ["stage"] as const,
    registers: this.r,
  });
  readonly commands = new Counter({
    name: "drover_agent_commands_handled_total",
    help: "Commands run, by kind and the outcome replied (accepted, running, succeeded, failed, refused)",
    labelNames: ["kind", "outcome"] as const,
    registers: this.r,
  });
  readonly migrations = new Counter({
    name: "drover_agent_migrations_total",
    help: "Migration jobs this host ran as the source that ended, by outcome",
    labelNames: ["outcome"] as const,
    registers: this.r,
  });

  constructor(sources: AgentMetricsSources) {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: this.r,
        collect() {
          this.set(read());
        },
      });
    gauge("drover_agent_libvirt_up", "1 while the local libvirtd answers", () => (sources.libvirtUp() ? 1 : 0));
    gauge("drover_agent_nats_connected", "1 while the agent's NATS connection is up", () => (sources.natsConnected() ? 1 : 0));
    gauge("drover_agent_migrations_running", "Migration jobs running out of this host now", () => sources.migrationsRunning());
  }

  migrationEnded(r: MigrationResult): void {
    this.migrations.inc({ outcome: r.outcome });
  }
}

/** Calls that last as long as a migration: a job, not a call's latency. */
const JOBS = new Set(["migrate"]);

/**
 * The hypervisor with every asynchronous call timed (connections and domains it hands out too).
 * One wrapper for the whole seam, so a call added to hypervisor.ts is measured without more code.
 */
export function timedHypervisor(hv: Hypervisor, calls: AgentMetrics["libvirtCalls"]): Hypervisor {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const v: unknown = Reflect.get(t, prop);
        if (typeof v !== "function" || typeof prop !== "string" || JOBS.has(prop)) return v;
        return (...args: unknown[]) => {
          const t0 = performance.now();
          const out: unknown = v.apply(t, args);
          if (!(out instanceof Promise)) return out;
          const done = (result: string) => calls.observe({ call: prop, result }, (performance.now() - t0) / 1000);
          return out.then(
            (value: unknown) => {
              done("ok");
              // A connection or a domain: its own calls are timed too.
              return value !== null && typeof value === "object" && !Array.isArray(value) ? wrap(value) : value;
            },
            (e: unknown) => {
              done("error");
              throw e;
            },
          );
        };
      },
    });
  return wrap(hv);
}

export interface MetricsListener {
  /** `http://host:port/metrics` as bound (port 0 resolved). */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the registry at GET /metrics on host:port; anything else is 404. */
export async function serveMetrics(registry: Registry, host: string, port: number, log: Logger): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the agent serves only GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (e: unknown) => {
        log.error({ err: e }, "metrics collection failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics collection failed\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const url = `${urlOf("http", a.address, a.port)}/metrics`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
