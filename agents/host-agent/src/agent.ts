import { Bus, BusStatusType, busConnectionOptions, identityShown, type Subscription } from "@drover/bus";
import {
  Command,
  CommandReply,
  type CommandEventInfo,
  HostEvent,
  HostReport,
  MigrationProgress,
  MigrationResult,
  subjects,
  type Logger,
  type VmReport,
} from "@drover/protocol";
import { localBridges } from "./bridges.js";
import { CommandRunner } from "./commands.js";
import { warnOfPlainTransports } from "./config-check.js";
import { metricsListen, migrationTlsDir, type AgentConfig } from "./config.js";
import { destinationName } from "./destinations.js";
import { hostCapacity, hostUsage, type HostCapacity } from "./host-metrics.js";
import { readLibvirtdFacts, type LibvirtdFacts } from "./hypervisor-facts.js";
import type { HvConnection, Hypervisor } from "./hypervisor.js";
import { LibvirtLink, withTimeout } from "./libvirt-link.js";
import { AgentMetrics, serveMetrics, timedHypervisor, type MetricsListener } from "./metrics.js";
import { migrationTlsReport } from "./migration-tls.js";
import { MigrationPortListener } from "./migration-ports.js";
import { PeerConnections } from "./peer-connections.js";
import { PeerReports } from "./peer-reports.js";
import { uriHost } from "./preflight.js";
import { readMounts, reportedStorage, StorageClassifier, type Mount } from "./storage.js";
import { VmCollector } from "./vm-collector.js";

export const AGENT_VERSION = "0.1.0";

export interface HostAgentOptions {
  logger: Logger;
  /** The libvirt binding; default: @drover/libvirt (loaded lazily). */
  hypervisor?: Hypervisor;
}

/**
 * The host agent: `create` connects (bus, libvirtd), `run` publishes reports and serves commands
 * until `shutdown`. It owns no policy and never moves a VM on its own.
 */
export class HostAgent {
  private readonly link: LibvirtLink;
  private readonly classifier: StorageClassifier;
  private readonly vms: VmCollector;
  private readonly commands: CommandRunner;
  private readonly peers: PeerReports;
  private readonly peerLibvirtds: PeerConnections;
  private readonly migrationPorts: MigrationPortListener;
  private capacity: HostCapacity | null = null;
  /** libvirtd's host UUID, versions and CPU, read once per connection (a restarted libvirtd may have others). */
  private own: { conn: HvConnection; facts: LibvirtdFacts } | null = null;
  private lastVms: VmReport[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private sub: Subscription | null = null;
  private stopping: Promise<void> | null = null;
  private stopped!: Promise<void>;
  private resolveStopped!: () => void;
  private reporting: Promise<void> = Promise.resolve();
  private readonly migrating = new Set<string>();
  /** This agent's Prometheus registry (main.ts adds the process's metrics to it). */
  readonly metrics: AgentMetrics;
  private metricsListener: MetricsListener | null = null;

  private constructor(
    readonly config: AgentConfig,
    readonly bus: Bus,
    readonly hv: Hypervisor,
    private readonly log: Logger,
  ) {
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.metrics = new AgentMetrics({
      libvirtUp: () => this.link.health.reachable,
      natsConnected: () => bus.isConnected,
      migrationsRunning: () => this.commands.migratingVms().size,
    });
    // Every libvirt call the agent makes goes through this seam, so every call is timed.
    const timed = timedHypervisor(hv, this.metrics.libvirtCalls);
    this.classifier = new StorageClassifier(config.storage.sharedFsTypes, config.storage.sharedPaths);
    this.vms = new VmCollector(this.classifier, log, config.dirtyRate);
    this.peers = new PeerReports(bus, config.cluster, log, config.peerClusters);
    this.peerLibvirtds = new PeerConnections(timed, config.libvirt.callTimeoutMs, log);
    this.migrationPorts = new MigrationPortListener(
      uriHost(config.migrationUri),
      { min: config.migration.peerPortMin, max: config.migration.peerPortMax },
      log,
    );
    this.link = new LibvirtLink(timed, { ...config.libvirt }, log, (up, detail) => this.event(up ? "libvirt-up" : "libvirt-down", detail));
    // An operator's `virsh metadata` edit is in the next report, not the next 5-minute XML refresh.
    this.link.onDroverMetadataChange = (uuid) => this.vms.invalidate(uuid);
    this.commands = new CommandRunner({
      config,
      hv: timed,
      link: this.link,
      log,
      preflightDeps: async () => ({
        host: config.host,
        migrationTlsDir: migrationTlsDir(config),
        classifier: this.classifier,
        mounts: await this.mounts(),
        peerReport: (host, cluster) =>
          this.peers.get(host, 3 * config.reportIntervalMs, Math.min(config.reportIntervalMs + 1000, 10_000), cluster),
        labSafeNetwork: config.labSafeNetwork,
        peerLibvirtd: (uri) => this.peerLibvirtds.get(uri),
        local: () => this.ownFacts(),
        callTimeoutMs: config.libvirt.callTimeoutMs,
        portProbeTimeoutMs: config.migration.portProbeTimeoutMs,
      }),
      migrationDeps: {
        host: config.host,
        log,
        callTimeoutMs: config.libvirt.callTimeoutMs,
        tls: migrationTlsDir(config) !== null,
        progress: (p) => this.bus.publish(subjects.migrationProgress(config.cluster, config.host, p.migrationId), MigrationProgress, p),
      },
      // Into the results stream, acked; the command id makes a retry a duplicate the stream drops.
      publishResult: async (r) => {
        await this.bus.jetstream.publish(subjects.migrationResult(config.cluster, config.host, r.migrationId), MigrationResult, r, {
          msgId: r.commandId,
        });
        this.metrics.migrationEnded(r); // once stored: a retried publish is not a second end
      },
      hostEvent: (kind, detail) => this.event(kind, detail),
      commandEvent: (c) => {
        this.metrics.commands.inc({ kind: c.kind, outcome: c.outcome });
        const what = `${c.kind} ${c.id}${c.vm ? ` of ${c.vm}` : ""}${c.destination ? ` to ${destinationName(c.destination)} (${c.destination.uri})` : ""}`;
        const outcome = `${c.outcome}${c.duplicate ? " (duplicate)" : ""}${c.error ? `: ${c.error.code}: ${c.error.message}` : ""}`;
        this.event("command", `${what} from ${c.issuedBy}: ${outcome}`, c);
      },
      knownPeer: (host, cluster) =>
        this.peers.get(host, Number.POSITIVE_INFINITY, Math.min(config.reportIntervalMs + 1000, 10_000), cluster),
      offerPeer: (facts) => this.peers.offer(facts),
      onMigration: (uuid, running) => {
        if (running) this.migrating.add(uuid);
        else this.migrating.delete(uuid);
        this.vms.invalidate(uuid);
      },
    });
  }

  static async create(config: AgentConfig, opts: HostAgentOptions): Promise<HostAgent> {
    const hv = opts.hypervisor ?? (await import("./libvirt-hypervisor.js")).libvirtHypervisor(opts.logger);
    warnOfPlainTransports(config, opts.logger);
    const bus = await Bus.connect({
      ...busConnectionOptions(config.nats),
      name: `host-agent ${config.host}`,
      logger: opts.logger,
      waitOnFirstConnect: true,
      // The stream's acks come back here: the only inbox this host's identity may read.
      inboxPrefix: subjects.hostInbox(config.cluster, config.host),
    });
    // A config copied from another host, or another host's seed: this identity may not hear this
    // host's commands (nor publish its reports). Refused at start, not left running as a silent host.
    try {
      await bus.assertMaySubscribe(
        subjects.hostCommand(config.cluster, config.host),
        `is ${identityShown(config.nats)} the one made for host ${config.host} of cluster ${config.cluster} (drover credentials --host ${config.host})?`,
      );
    } catch (e) {
      await bus.close();
      throw e;
    }
    const agent = new HostAgent(config, bus, hv, opts.logger);
    await agent.link.start();
    return agent;
  }

  /** Starts reporting and serving; resolves when the agent has shut down. */
  async run(): Promise<void> {
    this.sub = this.bus.serve(subjects.hostCommand(this.config.cluster, this.config.host), Command, CommandReply, (cmd) => {
      this.log.info({ cmd: cmd.id, kind: cmd.kind }, "command received");
      return this.commands.handle(cmd);
    });
    this.bus.onStatus((s) => {
      if (s.type === BusStatusType.Reconnect) this.commands.busReconnected();
    });
    this.event("agent-started", `drover-agent ${AGENT_VERSION} on ${this.config.host}, libvirt ${this.config.libvirt.uri}`);
    this.commands.recover();
    await this.serveMetrics();
    this.tick();
    await this.stopped;
  }

  /** One report now (also what the interval calls). Exposed for tests and the bench. */
  async reportOnce(): Promise<HostReport> {
    const r = await this.buildReport().catch((e: unknown) => {
      this.metrics.reportErrors.inc({ stage: "build" });
      throw e;
    });
    try {
      this.bus.publish(subjects.hostReport(this.config.cluster, this.config.host), HostReport, r);
    } catch (e) {
      this.metrics.reportErrors.inc({ stage: "publish" });
      throw e;
    }
    this.metrics.reports.inc();
    return r;
  }

  /** Where GET /metrics is served (null when off or not listening). */
  get metricsUrl(): string | null {
    return this.metricsListener?.url ?? null;
  }

  /**
   * Metrics are not the agent's job: an address that cannot be bound is logged (naming the keys)
   * and the agent runs on, reporting and migrating, without them.
   */
  private async serveMetrics(): Promise<void> {
    const at = metricsListen(this.config);
    if (!at) return;
    try {
      this.metricsListener = await serveMetrics(this.metrics.registry, at.host, at.port, this.log);
      this.log.info({ url: this.metricsListener.url }, "metrics served");
    } catch (e) {
      this.log.error(
        { err: e, host: at.host, port: at.port },
        `metrics not served: cannot listen on ${at.host}:${at.port} (metrics.host, metrics.port): ${(e as Error).message}`,
      );
    }
  }

  private tick(): void {
    if (this.stopping) return;
    const started = Date.now();
    this.commands.sweepLeftovers();
    this.reporting = this.reportOnce()
      .then(() => undefined)
      .catch((e: unknown) => this.log.error({ err: e }, "report failed"))
      .finally(() => {
        if (this.stopping) return;
        const wait = Math.max(0, this.config.reportIntervalMs - (Date.now() - started));
        this.timer = setTimeout(() => this.tick(), wait);
      });
  }

  private async mounts(): Promise<Mount[]> {
    try {
      return await readMounts(this.config.storage.mountsFile);
    } catch (e) {
      this.log.warn({ err: e }, "mounts unreadable");
      return [];
    }
  }

  private async buildReport(): Promise<HostReport> {
    await this.link.probe();
    await this.ownFacts();
    await this.migrationPorts.ensure();
    const conn = this.link.connection;
    if (!this.capacity) {
      const mhz = conn
        ? await conn
            .nodeInfo()
            .then((n) => n.mhz)
            .catch(() => undefined)
        : undefined;
      // Re-read once libvirt answers, since its clock rate is the reliable one in VMs.
      const cap = await hostCapacity(mhz);
      if (conn) this.capacity = cap;
      else return this.assemble(cap);
    }
    return this.assemble(this.capacity);
  }

  /** What the local libvirtd says of itself, read once per connection; null while unreachable or unread. */
  private async ownFacts(): Promise<LibvirtdFacts | null> {
    const conn = this.link.connection;
    if (!conn) return null;
    if (this.own?.conn !== conn) {
      try {
        this.own = { conn, facts: await readLibvirtdFacts(conn, this.config.libvirt.callTimeoutMs) };
      } catch (e) {
        this.link.noteError(e);
        this.log.warn({ err: e }, "host UUID, versions and CPU unreadable; reporting none until they are read");
        return null;
      }
    }
    return this.own.facts;
  }

  private async assemble(capacity: HostCapacity): Promise<HostReport> {
    const [usage, mounts, bridges, migrationTls] = await Promise.all([
      hostUsage(),
      this.mounts(),
      this.config.bridges ? Promise.resolve(this.config.bridges) : localBridges(),
      // Read at every report: an operator fixing the cert dir is seen without a restart.
      migrationTlsReport(migrationTlsDir(this.config)),
    ]);
    const storage = await reportedStorage(this.classifier.classify(mounts), this.config.libvirt.callTimeoutMs);
    const conn = this.link.connection;
    if (conn) {
      const migrating = new Set([...this.migrating, ...this.commands.migratingVms()]);
      try {
        this.lastVms = await withTimeout(this.vms.collect(conn, mounts, migrating), this.config.libvirt.callTimeoutMs, "VM stats");
      } catch (e) {
        // QEMU guests outlive libvirtd: keep the last known list rather than report an empty host.
        this.link.noteError(e);
        this.log.warn({ err: e }, "VM stats unavailable; reporting the last known VM list");
      }
    }
    if (this.config.hostCpuSource === "guests") {
      let used = 0;
      for (const vm of this.lastVms) used += vm.cpuUsedVcpus;
      usage.cpuFraction = Math.min(1, Math.round((used / capacity.cpus) * 10_000) / 10_000);
    }
    const h = this.link.health;
    return {
      v: 1,
      cluster: this.config.cluster,
      host: this.config.host,
      seq: this.seq++,
      timeMs: Date.now(),
      intervalMs: this.config.reportIntervalMs,
      agentVersion: AGENT_VERSION,
      capacity,
      usage,
      libvirt: { ...h, lastError: h.lastError ? { ...h.lastError } : null },
      migrationUri: this.config.migrationUri,
      ...(this.own?.facts.hostUuid ? { hostUuid: this.own.facts.hostUuid } : {}),
      migrationTls,
      ...(this.own ? { hypervisor: this.own.facts.hypervisor } : {}),
      migrationPorts: this.migrationPorts.report(),
      storage,
      bridges,
      power: { canPowerOff: this.config.power.offCommand !== undefined, wake: this.config.power.wake },
      vms: this.lastVms,
    };
  }

  private event(kind: HostEvent["kind"], detail: string, command?: CommandEventInfo): void {
    try {
      if (this.bus.isClosed) return;
      this.bus.publish(subjects.hostEvent(this.config.cluster, this.config.host), HostEvent, {
        v: 1,
        host: this.config.host,
        timeMs: Date.now(),
        kind,
        detail,
        ...(command ? { command } : {}),
      });
    } catch (e) {
      this.log.warn({ err: e, kind }, "host event not published");
    }
  }

  /** Stops reporting, aborts migrations in flight (VMs stay here), drains the bus, stops libvirt's loop. */
  async shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      // What the bus dropped (invalid commands, peer reports) over the agent's life: its only drop counter.
      this.log.info({ bus: this.bus.stats() }, "agent stopping");
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.event("agent-stopping", "shutdown requested");
      if (this.sub) await this.sub.drain().catch(() => undefined);
      await this.commands.close(30_000);
      await this.reporting;
      await this.metricsListener?.close();
      this.peers.close();
      await this.peerLibvirtds.close();
      await this.migrationPorts.close();
      // Drain flushes what was published; bounded, since a bus that is reconnecting cannot drain.
      await withTimeout(this.bus.drain(), 5000, "bus drain").catch((e: unknown) => this.log.warn({ err: e }, "bus drain failed"));
      await this.bus.close().catch(() => undefined);
      await this.link.stop();
      await this.hv.shutdown();
      this.resolveStopped();
    })();
    await this.stopping;
  }
}
