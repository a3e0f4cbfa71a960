import { setTimeout as sleep } from "node:timers/promises";
// The control plane's lifecycle: create (open the store, load what it knows), start (connect,
// reconcile, subscribe, serve), shutdown. Everything periodic runs from one tick.
import { join } from "node:path";
import { Bus, busConnectionOptions, identityShown } from "@drover/bus";
import { DropLog, HostReport, hostOfSubject, silentLogger, subjects, type HostState, type Logger } from "@drover/protocol";
import { Store, type VmSeenRow } from "@drover/store";
import type { Subscription } from "@drover/bus";
import { AgentClient } from "./agent-client.js";
import { AgentCommandLog } from "./agent-commands.js";
import { systemClock, type Clock } from "./clock.js";
import { ClusterState, modeOfStoredState } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import { Dispatcher } from "./dispatcher.js";
import { MigrationEvents } from "./migration-events.js";
import { Metrics } from "./metrics.js";
import { metricsSources } from "./metrics-sources.js";
import { VmRowWriter } from "./vm-rows.js";
import { Planner } from "./planner.js";
import { Maintenance } from "./maintenance.js";
import { PowerManager, type WakeDrivers } from "./power/power-manager.js";
import { Modes } from "./modes.js";
import { reconcile } from "./reconcile.js";
import type { SchedulerApi } from "./api/ports.js";
import { ApiServer } from "./api/server.js";
import { TokenBook } from "./api/tokens.js";
import { warnOfStartRisks } from "./config-check.js";
import { recordConfigChanges } from "./config-changes.js";
import { forgetHost } from "./forget-host.js";
import { Leadership, leadershipSettings, type LeadershipSettings } from "./leadership.js";
import { ensureResultsStream } from "./migrations/results-intake.js";
import {
  forgetEndedMoves,
  importUnfinished,
  Journal,
  journaledDrains,
  journaledModes,
  journaledPower,
  ProposedPlans,
  recordMigrate,
} from "./journal.js";
import { moveAcross } from "./move-across.js";
import { PeerClusters, whereVmIs } from "./peer-clusters.js";
import { planningSnapshot, type Foresight } from "./snapshot.js";
import { LoadRecorder } from "./load-history.js";
import { LoadForecasts } from "./load-history-forecast.js";
import { StoreHealth } from "./store-health.js";
import { Webhooks, type Notify } from "./webhooks.js";

export interface SchedulerDeps {
  clock?: Clock;
  logger?: Logger;
  /** Wake drivers by method; defaults to the real ones (UDP WoL, peer WoL, ipmitool). */
  wakeDrivers?: Partial<WakeDrivers>;
  /** Run the periodic tick on a timer (default true); tests may call tick() themselves. */
  autoTick?: boolean;
  tickMs?: number;
}

export class Scheduler {
  readonly state: ClusterState;
  /** The other clusters an operator may move VMs to (config `peerClusters`), from their reports. */
  readonly peers: PeerClusters;
  readonly metrics = new Metrics();
  /** Which guests' rows a flush writes (changed, or last seen long ago). */
  readonly vmRows = new VmRowWriter();
  readonly clock: Clock;
  readonly log: Logger;
  readonly startedAtMs: number;
  bus!: Bus;
  agents!: AgentClient;
  dispatcher!: Dispatcher;
  planner!: Planner;
  maintenance!: Maintenance;
  power!: PowerManager;
  /** What the load history and the measured wakes add to planning (set by start()). */
  foresight!: Foresight;
  modes!: Modes;
  api!: ApiServer;
  commandLog!: AgentCommandLog;
  leadership!: Leadership;
  private journal: Journal | undefined;
  /** With leadership on: the plans awaiting approval, mirrored into the journal by the leader's tick. */
  private proposedPlans: ProposedPlans | undefined;
  private webhooks: Webhooks | undefined;
  private readonly subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | null = null;
  private started = false;
  private lastPruneMs = 0;
  /** The latest taking of charge (import and reconcile); the next one waits for it. */
  private takingCharge: Promise<void> | undefined;
  private stopped = false;
  private readonly drops: DropLog;
  /** Load time series written to the store, and the forecasts fitted on them. */
  readonly loadHistory: LoadRecorder;
  readonly forecasts: LoadForecasts;
  /** Invalid reports: counted by the bus per subject (bad JSON, schema failure, over `reports.maxBytes`). */
  invalidReportCount(): number {
    if (!this.bus) return 0;
    let n = 0;
    for (const [subject, c] of Object.entries(this.bus.stats().invalidBySubject)) if (subject.endsWith(".report")) n += c;
    return n;
  }

  private constructor(
    readonly config: SchedulerConfig,
    readonly store: Store,
    private readonly deps: SchedulerDeps,
    /** Whether the store takes writes; the scheduler acts only while it does. */
    readonly storeHealth: StoreHealth,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? silentLogger;
    this.startedAtMs = this.clock.now();
    const { admitUnknownHosts } = config.reports;
    this.state = new ClusterState(config.cluster, {
      ...config.reports,
      ...(admitUnknownHosts ? {} : { admit: (host: string) => Object.hasOwn(config.hosts, host) }),
    });
    this.peers = new PeerClusters(config);
    this.drops = new DropLog(this.log, config.reports.dropLogIntervalMs, "host reports");
    this.loadHistory = new LoadRecorder({ store, state: this.state, config, log: this.log }, this.startedAtMs);
    this.forecasts = new LoadForecasts({ store, config, log: this.log });
    this.state.seedHistory = (kind, id, cpu, mem) => this.loadHistory.seedInto(kind, id, cpu, mem);
    this.metrics.sources = metricsSources(this);
  }

  /** Opens the store and loads the hosts it knows (their scheduler-owned state survives restarts). */
  static create(config: SchedulerConfig, deps: SchedulerDeps = {}): Scheduler {
    const clock = deps.clock ?? systemClock;
    const health = new StoreHealth(config.stateDir, clock, deps.logger ?? silentLogger);
    const store = Store.open({
      path: join(config.stateDir, "drover.sqlite"),
      retentionDays: config.retainMs / 86_400_000,
      now: () => clock.now(),
      onWriteFailure: (e) => health.failed(e),
    });
    const s = new Scheduler(config, store, deps, health);
    const now = s.clock.now();
    for (const row of store.hosts.list()) {
      if (row.cluster !== config.cluster) continue;
      const h = s.state.ensureHost(row.id, now);
      h.mode = modeOfStoredState[row.state];
      h.modeSinceMs = row.stateSinceMs;
      h.knownCapacity = row.capacity as typeof h.knownCapacity;
      h.heardBeforeStartMs = row.lastReportMs;
    }
    for (const id of Object.keys(config.hosts)) s.state.ensureHost(id, now);
    // The remembered load: known hosts' histories now, VMs' when they first report again.
    s.loadHistory.restore(now);
    s.forecasts.refresh(now);
    const changed = recordConfigChanges(store, config, now);
    if (changed.length) s.log.info({ keys: changed }, "configuration changed since the last start");
    return s;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("Scheduler.start: already started");
    this.started = true;
    const { config } = this;
    // First: a webhook secret file that cannot be read fails the start before anything connects.
    const webhooks = await Webhooks.create({
      config: config.webhooks,
      cluster: config.cluster,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      recordFailure: (f) => this.store.webhookFailures.record(f),
    });
    this.webhooks = webhooks;
    await warnOfStartRisks(config, this.log);
    this.bus = await Bus.connect({
      ...busConnectionOptions(config.nats),
      name: `drover-scheduler ${config.cluster}`,
      // The identity may read replies under its cluster's scheduler prefix only.
      inboxPrefix: subjects.schedulerInbox(config.cluster),
      logger: this.log,
      requestTimeoutMs: config.nats.requestTimeoutMs,
    });
    // Another identity (a host's seed, the tools one, another cluster's scheduler) may not read this
    // cluster's scheduler replies (nor command its hosts): refused here, named, not as a JetStream failure.
    await this.bus.assertMaySubscribe(
      `${subjects.schedulerInbox(config.cluster)}.identity-check`,
      `is ${identityShown(config.nats)} the scheduler's of cluster ${config.cluster} (drover credentials --cluster ${config.cluster})?`,
    );
    const settings = leadershipSettings(config);
    const { leadership, journal } = await this.openJetStream(settings);
    this.leadership = leadership;
    this.journal = journal;
    this.agents = new AgentClient(
      this.bus,
      config.cluster,
      this.clock,
      this.log,
      config.migration.commandTimeoutMs,
      this.leadership,
      journal && recordMigrate(journal, settings.id, this.clock),
    );
    // Built in dependency order; each service gets what it uses at construction, and those that
    // react to a finished move subscribe to `events` themselves.
    const { store, state, clock, log, metrics } = this;
    const notify: Notify = (e) => webhooks.emit(e);
    const events = new MigrationEvents(log);
    events.onFinished((row) => metrics.migrationEnded(row));
    const leading = () => this.leadership.mayAct();
    if (journal) forgetEndedMoves(events, journal, leading, log);
    this.proposedPlans = journal && new ProposedPlans(journal, log);
    events.onFinished((row) => {
      if (row.status !== "failed" && row.status !== "timed-out") return;
      const why = row.error ? `${row.error.code}: ${row.error.message}` : row.status;
      notify({
        event: "migration-failed",
        id: row.id,
        host: row.source,
        vm: row.vmName,
        summary: `${row.vmName} ${row.source} -> ${row.destination} ${row.status}: ${why}`,
      });
    });
    const writable = () => this.storeHealth.writable;
    // The power manager measures the wakes it runs; planning reads them and the load forecast.
    const foresight: Foresight = {
      demandForecast: () => this.forecasts.demandForecast(),
      wakeLatencyMs: (host) => this.power.wakeLatencies.expectedMs(host),
      onSinceMs: (host) => this.power.wakeLatencies.onSinceMs(host),
    };
    this.foresight = foresight;
    const { bus, agents, peers } = this;
    const dispatcher = new Dispatcher({ bus, agents, store, state, clock, config, log, metrics, events, writable, peers });
    const power = new PowerManager({
      store,
      state,
      agents: this.agents,
      clock,
      config,
      log,
      metrics,
      drivers: this.deps.wakeDrivers ?? {},
      dispatcherBusy: (host) => dispatcher.inFlightForPolicy().some((m) => m.sourceHostId === host || m.destinationHostId === host),
      // The power-off rule is judged on the same picture the policies plan on.
      planningSnapshot: () => planningSnapshot({ state, config, store, moves: dispatcher, foresight }, clock.now()),
      ...(journal ? { journal: journaledPower(journal, leading, log) } : {}),
      notify,
    });
    const planner = new Planner({ store, state, config, moves: dispatcher, power, events, clock, log, metrics, notify, foresight });
    this.dispatcher = dispatcher;
    this.power = power;
    this.planner = planner;
    this.modes = new Modes({ planner, moves: dispatcher, power, events, state, store, clock, config, log });
    this.maintenance = new Maintenance({ store, state, planner, moves: dispatcher, power, modes: this.modes, clock, log, notify, peers });

    this.dispatcher.start();
    this.subs.push(...peers.follow(this.bus, clock));
    this.subs.push(
      this.bus.subscribe(subjects.allHostReports(config.cluster), HostReport, (r, ctx) => this.ingest(r, ctx.subject), {
        maxBytes: config.reports.maxBytes,
      }),
    );
    const { cluster, reports } = config;
    this.commandLog = new AgentCommandLog({
      bus: this.bus,
      store,
      agents: this.agents,
      clock,
      log,
      metrics,
      cluster,
      logIntervalMs: reports.dropLogIntervalMs,
      // A follower's ledger is empty: it would mark the leader's commands as not issued here.
      recording: () => this.leadership.mayAct(),
    });
    if (this.leadership.enabled) {
      // A follower keeps its picture warm from the reports and acts only once it leads.
      this.leadership.onChange((leading) => (leading ? void this.takeCharge() : this.standDown()));
      this.leadership.start();
    } else await this.takeCharge();

    this.api = new ApiServer(this.apiPorts());
    await this.api.listen(config.http.host, config.http.port);
    this.flushTimer = setInterval(() => this.flush(), config.reports.flushIntervalMs);
    this.flushTimer.unref();
    if (this.deps.autoTick !== false) {
      this.timer = setInterval(() => void this.tick(), this.deps.tickMs ?? 1000);
      this.timer.unref();
    }
    this.log.info({ cluster: config.cluster, http: this.api.address }, "scheduler started");
  }

  /**
   * On start (one scheduler) and each time it becomes leader: settle unfinished work, then act. The
   * journal is read every time, since another leader may have sent moves, opened drains, proposed
   * plans, started power actions or changed modes while this one followed; reconciliation asks the
   * agents about the moves this scheduler does not follow yet before anything new is sent. A failure
   * (the journal's bucket has no NATS leader for a while after a node dies) is tried again for as long
   * as this scheduler leads: a leader that gave up would hold the lease and act on nothing.
   */
  private async takeCharge(): Promise<void> {
    const previous = this.takingCharge;
    const current = () => this.takingCharge === taking && this.leadership.mayAct() && !this.stopped;
    const taking = (async () => {
      await previous?.catch(() => undefined);
      for (let attempt = 1; current(); attempt++) {
        try {
          await this.importJournal();
          await reconcile({
            store: this.store,
            state: this.state,
            dispatcher: this.dispatcher,
            agents: this.agents,
            clock: this.clock,
            log: this.log,
            waitForReportsMs: Math.min(this.config.reports.intervalMs * 1.5, 10_000),
          });
          return;
        } catch (e) {
          const retryMs = Math.min(500 * attempt, 5000);
          this.leadership.chargeFailed(attempt, (e as Error).message);
          this.log.error({ err: e, attempt, retryMs }, "taking charge (journal import, reconciliation) failed; trying again while leading");
          await sleep(retryMs, undefined, { ref: false });
        }
      }
    })();
    this.takingCharge = taking;
    this.leadership.takingCharge(this.clock.now());
    await taking;
    if (!current()) return; // lost (and maybe regained: the newer taking goes on) or stopped meanwhile
    this.leadership.tookCharge();
    this.dispatcher.ready = true;
    this.dispatcher.pump();
    this.power.resume();
    this.maintenance.resume();
    this.planner.resume();
  }

  /** What the journal holds becomes this store's: moves to reconcile, drains, plans, power actions, modes. */
  private async importJournal(): Promise<void> {
    if (!this.journal) return;
    const names = (uuid: string) => this.state.vm(uuid)?.report.name ?? uuid;
    const j = await this.journal.unfinished();
    importUnfinished(j, this.store, names, this.clock.now(), this.log);
    this.proposedPlans?.reset(j.plans.map((p) => p.id));
    for (const m of j.modes) this.modes.adopt(m.policy, m.mode, m.by, m.atMs);
    for (const e of j.schedules) this.modes.adoptSchedule(e.policy, e.window, e.by, e.atMs);
  }

  /**
   * Lost the lease: nothing new starts (the agent client already refuses to send), and the moves
   * queued but never sent are cancelled with that cause: they are in no journal, so the next leader
   * plans them again (an open drain is journaled), and this one must not send them later from an old picture.
   */
  private standDown(): void {
    this.dispatcher.ready = false;
    const leader = this.leadership.status().leader?.id ?? null;
    const cancelled = this.dispatcher.dropQueued({
      code: "leadership-lost",
      message: `scheduler "${this.leadership.settings.id}" stopped leading before it sent this move${leader ? ` (scheduler "${leader}" leads)` : ""}`,
    });
    this.log.warn({ leader, cancelled }, "no longer leading: planning and sending stopped, queued moves cancelled");
  }

  /**
   * One report, validated by the bus already, from the subject it came on: a host speaks only for
   * itself. Only in-memory state changes here (cheap); a drop is counted and logged rate-limited.
   */
  ingest(r: HostReport, subject: string): void {
    const now = this.clock.now();
    const res = this.state.ingest(r, now, hostOfSubject(subject) ?? "");
    if (res !== "accepted") this.drops.note(subject, res, now, { host: r.host, cluster: r.cluster, timeMs: r.timeMs });
  }

  /** Reports refused, by reason: by the bus (invalid) and by the checks of the cluster state. */
  /** Webhook events waiting for delivery (0 before start). */
  webhooksQueued(): number {
    return this.webhooks?.queued ?? 0;
  }

  rejectedReports(): Record<string, number> {
    return { invalid: this.invalidReportCount(), ...this.state.counters.dropped };
  }

  /** Removes a host that no longer exists (see forget-host.ts for when it is refused). */
  forgetHost(id: string, by: string): { vms: number } {
    return forgetHost(this, id, by);
  }

  /** Writes what reports changed to the store in one batch. */
  flush(): void {
    if (this.stopped || !this.storeHealth.writable) return;
    const rows: VmSeenRow[] = [];
    let due: VmSeenRow[] = [];
    try {
      this.store.transaction(() => {
        for (const h of this.state.hosts.values()) {
          if (!h.dirty) continue;
          h.dirty = false;
          const r = h.report;
          if (r && h.lastReportMs !== null) {
            this.store.hosts.reported({
              id: h.id,
              cluster: this.config.cluster,
              atMs: h.lastSeenMs ?? h.lastReportMs,
              migrationUri: r.migrationUri,
              wake: r.power.wake,
              capacity: r.capacity,
            });
            for (const v of r.vms) {
              if (this.state.vm(v.uuid)?.host !== h.id) continue;
              rows.push({
                uuid: v.uuid,
                name: v.name,
                host: h.id,
                state: v.state,
                memoryMiB: v.memoryMiB,
                vcpus: v.vcpus,
                tags: v.tags,
                lastSeenMs: h.lastSeenMs ?? 0,
              });
            }
          }
          const want = this.storedState(h.id);
          const row = this.store.hosts.get(h.id);
          if (row && row.state !== want) this.store.hosts.setState(h.id, want, null, this.clock.now());
        }
        due = this.vmRows.due(rows);
        if (due.length) this.store.vms.upsertSeen(due);
      });
      this.vmRows.committed(due, this.clock.now());
    } catch (e) {
      this.log.error({ err: e }, "store flush failed");
    }
    // Its own transactions, after the rows above: a large batch of samples never delays them.
    const now = this.clock.now();
    this.loadHistory.flush(now);
    this.forecasts.refresh(now);
  }

  private storedState(id: string): HostState {
    const h = this.state.hosts.get(id)!;
    return this.state.stateOf(h, this.clock.now());
  }

  /** Periodic work: unreachable marking, timeouts, schedules, drains, power. */
  async tick(): Promise<void> {
    if (this.stopped || !this.started) return;
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        for (const h of this.state.hosts.values()) {
          // Marks the host dirty when its effective state changes so the store follows.
          const st = this.state.stateOf(h, this.clock.now());
          if (st !== h.lastState) {
            if (h.lastState !== undefined) this.log.info({ host: h.id, from: h.lastState, to: st }, "host state changed");
            h.lastState = st;
            h.dirty = true;
          }
        }
        this.drops.flush(this.clock.now());
        this.api.flushLogs(this.clock.now());
        // A follower plans, dispatches and powers nothing; a leader still reconciling waits for ready.
        if (this.leadership.mayAct() && this.dispatcher.ready) await this.act();
        if (this.clock.now() - this.lastPruneMs > 3_600_000) {
          this.lastPruneMs = this.clock.now();
          const n = this.store.prune();
          if (n > 0) this.log.info({ rows: n }, "pruned old records");
        }
      } catch (e) {
        this.log.error({ err: e }, "tick failed");
      }
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  /** The tick's acting half: timeouts and follow-ups, power, maintenance, modes, plans. */
  private async act(): Promise<void> {
    // Every command is recorded before it is sent: while the store refuses writes, only the moves
    // in flight are followed (asked about), nothing new is planned, started or powered.
    if (!this.storeHealth.check()) return this.dispatcher.tick(false);
    await this.dispatcher.tick();
    await this.power.tick();
    await this.maintenance.tick();
    await this.modes.tick();
    const proposed = this.planner.tick();
    this.proposedPlans?.sync(proposed);
  }

  /** What the HTTP API may use. */
  private apiPorts(): SchedulerApi {
    return {
      config: this.config,
      clock: this.clock,
      log: this.log,
      startedAtMs: this.startedAtMs,
      state: this.state,
      store: this.store,
      tokens: new TokenBook(this.store, () => this.clock.now()),
      metrics: this.metrics,
      planner: this.planner,
      moves: this.dispatcher,
      maintenance: this.journal ? journaledDrains(this.maintenance, this.journal, this.log) : this.maintenance,
      power: this.power,
      modes: this.journal ? journaledModes(this.modes, this.journal, this.clock, this.log) : this.modes,
      rejectedReports: () => this.rejectedReports(),
      forgetHost: (id, by) => this.forgetHost(id, by),
      vmRunningOn: (row) => whereVmIs({ state: this.state, peers: this.peers }, row),
      moveAcross: (vm, cluster, host, by) =>
        moveAcross({ state: this.state, peers: this.peers, planner: this.planner, moves: this.dispatcher }, vm, cluster, host, by),
      leadership: this.leadership,
      nats: () => this.bus.connectionInfo(),
      storeHealth: this.storeHealth,
      forecasts: this.forecasts,
    };
  }

  /**
   * The results stream, the leader lease's bucket and the journal's, created if absent (all three
   * idempotent). Each waits for a cluster that cannot place it yet or times out (the bus's
   * `whileClusterSettles`), so an error here is one waiting will not mend.
   */
  private async openJetStream(settings: LeadershipSettings): Promise<{ leadership: Leadership; journal: Journal | undefined }> {
    const { cluster } = this.config;
    try {
      await ensureResultsStream(this.bus, cluster, settings.replicas);
      const leadership = await Leadership.open(this.bus, settings, cluster, this.log);
      const journal = settings.enabled ? await Journal.open(this.bus, cluster, settings.replicas) : undefined;
      return { leadership, journal };
    } catch (e) {
      throw new Error(`JetStream cannot be set up (does nats-server run with JetStream?): ${(e as Error).message}`, { cause: e });
    }
  }

  /** Stops serving and sending; running migrations stay with their agents (reconciled on restart). */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.ticking?.catch(() => undefined);
    await this.api?.close().catch(() => undefined);
    for (const s of this.subs) s.unsubscribe();
    this.commandLog?.close();
    await this.dispatcher?.stop();
    this.power?.stop();
    await this.webhooks?.stop();
    await this.leadership?.stop().catch(() => undefined);
    this.stopped = false;
    this.flush();
    this.loadHistory.drain();
    this.stopped = true;
    await this.bus?.close().catch(() => undefined);
    this.store.close();
    this.log.info({}, "scheduler stopped");
  }
}
