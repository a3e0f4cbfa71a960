// The only code that starts, follows and aborts migrations. A move is persisted (with its command
// id) before anything is sent; it then waits for a slot within the in-flight limits (applied by
// the policy's one limits function), passes a preflight, is sent once, and is followed through its
// progress to its result, or to a timeout.
import type { Bus, Subscription } from "@drover/bus";
import { applyLimits, type InFlightMigration, type MigrateStep } from "@drover/policy";
import {
  MigrationProgress,
  MigrationResult,
  subjects,
  type CommandReply,
  type ErrorInfo,
  type Logger,
  type MigrateOptions,
} from "@drover/protocol";
import type { MigrationRow, MigrationStatus, Store } from "@drover/store";
import type { AgentClient } from "./agent-client.js";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import { DispatchError } from "./errors.js";
import { newId } from "./ids.js";
import type { Metrics } from "./metrics.js";
import { MovePredictor, type LearnedModel } from "./prediction.js";

/** `strategy` of a move that shares its source or destination: "live; 2 concurrent". */
export function strategyOf(recorded: string | null): { strategy: string | null; concurrent: number } {
  if (recorded === null) return { strategy: null, concurrent: 1 };
  const m = /^(.*); (\d+) concurrent$/.exec(recorded);
  return m ? { strategy: m[1]!, concurrent: Number(m[2]) } : { strategy: recorded, concurrent: 1 };
}

export interface MoveRequest {
  /** VM uuid or name. */
  vm: string;
  destination: string;
  requestedBy: string;
  reason: string;
  planId?: string | null;
  predictedDurationMs?: number | null;
  predictedDowntimeMs?: number | null;
  strategy?: string | null;
}

interface Active {
  row: MigrationRow;
  progress: MigrationProgress | null;
  lastHeardMs: number;
  deadlineMs: number;
  abortSent: boolean;
  statusAsks: number;
}

const ACTIVE: ReadonlySet<MigrationStatus> = new Set(["preflight", "dispatched", "running"]);
const FINISHED_FAILED = new Set(["failed", "aborted", "timed-out"]);

export interface DispatcherDeps {
  bus: Bus;
  store: Store;
  state: ClusterState;
  agents: AgentClient;
  clock: Clock;
  config: SchedulerConfig;
  log: Logger;
  metrics: Metrics;
}

export class Dispatcher {
  private readonly queue: string[] = [];
  private readonly queued = new Map<string, MigrationRow>();
  private readonly active = new Map<string, Active>();
  /**
   * Succeeded moves the reports do not show yet (the source still lists the VM, or the destination
   * does not): planning must still see them, or it plans on the picture from before the move.
   */
  private readonly landed = new Map<string, MigrationRow>();
  private readonly predictor: MovePredictor;
  private readonly subs: Subscription[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /** Called with every migration that ends (any outcome). */
  onFinished: ((row: MigrationRow) => void) | undefined;
  /** Set after restart reconciliation; no move is started before. */
  private isReady = false;
  private readySinceMs = 0;

  get ready(): boolean {
    return this.isReady;
  }

  set ready(v: boolean) {
    this.isReady = v;
    if (v) this.readySinceMs = this.d.clock.now();
  }

  constructor(private readonly d: DispatcherDeps) {
    this.predictor = new MovePredictor(d.config);
  }

  start(): void {
    const { bus, config } = this.d;
    this.subs.push(
      bus.subscribe(subjects.allMigrationProgress(config.cluster), MigrationProgress, (p) => this.onProgress(p)),
      bus.subscribe(subjects.allMigrationResults(config.cluster), MigrationResult, (r) => this.onResult(r)),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    await Promise.allSettled([...this.running]);
  }

  /** Validates and persists a move, then queues it. Throws DispatchError naming the reason. */
  submit(req: MoveRequest): MigrationRow {
    const { state, clock, store, config } = this.d;
    const now = clock.now();
    const vm = state.vm(req.vm);
    if (!vm) throw new DispatchError("unknown-vm", `no VM "${req.vm}" is reported by any host`, "vm");
    if (!state.hosts.has(req.destination)) throw new DispatchError("unknown-host", `no host "${req.destination}"`, "host");
    if (vm.host === req.destination) throw new DispatchError("same-host", `${vm.report.name} already runs on ${req.destination}`, "host");
    if (!state.canBeSource(vm.host, now)) {
      throw new DispatchError("source-unavailable", `source ${vm.host} is ${state.stateOf(state.hosts.get(vm.host)!, now)}`, "vm");
    }
    if (!state.canBeDestination(req.destination, now)) {
      throw new DispatchError(
        "destination-unavailable",
        `destination ${req.destination} is ${state.stateOf(state.hosts.get(req.destination)!, now)}`,
        "host",
      );
    }
    const busy = this.forVm(vm.uuid);
    if (busy) throw new DispatchError("vm-busy", `${vm.report.name} is already being moved by migration ${busy.id}`, "vm");
    const failed = store.migrations.lastFailure(vm.uuid, req.destination);
    if (failed?.endedMs != null && now - failed.endedMs < config.cooldowns.failureMs) {
      const left = Math.ceil((config.cooldowns.failureMs - (now - failed.endedMs)) / 1000);
      throw new DispatchError(
        "cooldown",
        `moving ${vm.report.name} to ${req.destination} failed ${Math.round((now - failed.endedMs) / 1000)} s ago (${failed.error?.code ?? failed.status}); cool-down ${left} s left`,
        "host",
      );
    }
    const id = newId("mig", now);
    // Whoever asked, the move carries the cost model's figures (a plan's step brings its own).
    let predicted = {
      durationMs: req.predictedDurationMs ?? null,
      downtimeMs: req.predictedDowntimeMs ?? null,
      strategy: req.strategy ?? null,
    };
    if (predicted.durationMs === null) {
      const p = this.predictSafely(vm.report, 1);
      if (p) predicted = { durationMs: p.durationMs, downtimeMs: p.downtimeMs, strategy: p.strategy };
    }
    // A new move of this VM supersedes what is still settling from its previous one.
    for (const [lid, l] of this.landed) if (l.vmUuid === vm.uuid) this.landed.delete(lid);
    store.migrations.insert({
      id,
      commandId: `cmd-${id}`,
      planId: req.planId ?? null,
      vmUuid: vm.uuid,
      vmName: vm.report.name,
      source: vm.host,
      destination: req.destination,
      requestedBy: req.requestedBy,
      reason: req.reason,
      predictedDurationMs: predicted.durationMs,
      predictedDowntimeMs: predicted.downtimeMs,
      strategy: predicted.strategy,
      createdMs: now,
    });
    const row = store.migrations.get(id)!;
    this.enqueue(row);
    this.d.log.info({ migration: id, vm: vm.report.name, from: vm.host, to: req.destination, by: req.requestedBy }, "migration queued");
    this.pump();
    return row;
  }

  /** Re-queues a persisted move that never reached an agent (restart reconciliation). */
  enqueue(row: MigrationRow): void {
    if (this.queued.has(row.id)) return;
    this.queued.set(row.id, row);
    this.queue.push(row.id);
    this.d.metrics.migrationsQueued.set(this.queue.length);
  }

  /** Follows a move an agent is running (restart reconciliation). */
  adopt(row: MigrationRow): void {
    const now = this.d.clock.now();
    const started = row.startedMs ?? now;
    this.active.set(row.id, { row, progress: null, lastHeardMs: now, deadlineMs: this.deadline(started), abortSent: false, statusAsks: 0 });
    this.d.metrics.migrationsInFlight.set(this.active.size);
  }

  /** Migration of this VM that is queued or running. */
  forVm(uuid: string): MigrationRow | undefined {
    for (const a of this.active.values()) if (a.row.vmUuid === uuid) return a.row;
    for (const r of this.queued.values()) if (r.vmUuid === uuid) return r;
    return undefined;
  }

  progressOf(id: string): MigrationProgress | null {
    return this.active.get(id)?.progress ?? null;
  }

  /** Cost-model constants learned from measured migrations, for the planner's snapshot. */
  get learnedModel(): LearnedModel | undefined {
    return this.predictor.learned;
  }

  get inFlightCount(): number {
    return this.active.size;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  private predictSafely(vm: Parameters<MovePredictor["predict"]>[0], sharing: number): ReturnType<MovePredictor["predict"]> {
    try {
      return this.predictor.predict(vm, sharing);
    } catch (e) {
      this.d.log.warn({ vm: vm.name, err: (e as Error).message }, "no prediction (planner config rejected by the cost model)");
      return null;
    }
  }

  /**
   * Moves running, waiting, or succeeded but not yet shown by the reports of both hosts, as the
   * policy sees them (so it plans around them, never on the picture from before a move).
   */
  inFlightForPolicy(): InFlightMigration[] {
    const out: InFlightMigration[] = [];
    const add = (r: MigrationRow) =>
      out.push({
        id: r.id,
        vmId: r.vmUuid,
        sourceHostId: r.source,
        destinationHostId: r.destination,
        startedMs: r.startedMs ?? r.createdMs,
      });
    for (const a of this.active.values()) add(a.row);
    for (const r of this.queued.values()) add(r);
    for (const r of this.landedMoves()) add(r);
    return out;
  }

  /** VM uuid -> destination, for succeeded moves the reports do not show yet. */
  landedVms(): Map<string, string> {
    return new Map(this.landedMoves().map((r) => [r.vmUuid, r.destination]));
  }

  /**
   * Drops a landed move once the source's report (received after the move ended) no longer lists
   * the VM and the destination's lists it; or once its hosts were silent long enough to be left
   * out of planning anyway.
   */
  private landedMoves(): MigrationRow[] {
    const { state, clock } = this.d;
    const now = clock.now();
    for (const [id, r] of this.landed) {
      const end = r.endedMs ?? now;
      const src = state.hosts.get(r.source);
      const dst = state.hosts.get(r.destination);
      const after = (h: typeof src) => h?.report != null && h.lastSeenMs !== null && h.lastSeenMs >= end;
      const lists = (h: typeof src) => h!.report!.vms.some((v) => v.uuid === r.vmUuid);
      const shown = after(src) && after(dst) && !lists(src) && lists(dst);
      if (shown || now - end > state.staleAfterMs * 2) this.landed.delete(id);
    }
    return [...this.landed.values()];
  }

  /** Starts what the limits admit, in submission order. */
  pump(): void {
    if (this.stopped || !this.ready) return;
    const live = this.queue.filter((id) => this.queued.has(id));
    this.queue.length = 0;
    this.queue.push(...live);
    if (this.queue.length === 0) return;
    const inFlight: InFlightMigration[] = [...this.active.values()].map((a) => ({
      id: a.row.id,
      vmId: a.row.vmUuid,
      sourceHostId: a.row.source,
      destinationHostId: a.row.destination,
      startedMs: a.row.startedMs ?? a.row.createdMs,
    }));
    const steps: MigrateStep[] = this.queue.map((id, index) => {
      const r = this.queued.get(id)!;
      return {
        kind: "migrate",
        index,
        dependsOn: [],
        code: "dispatch",
        message: r.reason,
        policy: r.requestedBy,
        vmId: r.vmUuid,
        sourceHostId: r.source,
        destinationHostId: r.destination,
        prediction: { strategy: "live", durationMs: 0, downtimeMs: 0, preCopyConverges: true, iterations: 0, bytesSent: 0, cost: 0 },
      };
    });
    const { admitted } = applyLimits(steps, inFlight, this.d.config.limits);
    const start = new Set(admitted.map((s) => this.queue[s.index]!));
    for (const id of start) {
      const row = this.queued.get(id)!;
      this.queued.delete(id);
      this.track(this.run(row));
    }
    const rest = this.queue.filter((id) => !start.has(id));
    this.queue.length = 0;
    this.queue.push(...rest);
    this.d.metrics.migrationsQueued.set(this.queue.length);
  }

  private track(p: Promise<void>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private deadline(startedMs: number): number {
    return startedMs + this.d.config.migration.timeoutMs + this.d.config.migration.resultGraceMs;
  }

  private async run(queuedRow: MigrationRow): Promise<void> {
    const { store, clock, state, config, agents, log, metrics } = this.d;
    let row = store.migrations.update(queuedRow.id, { status: "preflight", atMs: clock.now() });
    const a: Active = {
      row,
      progress: null,
      lastHeardMs: clock.now(),
      deadlineMs: Number.POSITIVE_INFINITY,
      abortSent: false,
      statusAsks: 0,
    };
    this.active.set(row.id, a);
    metrics.migrationsInFlight.set(this.active.size);
    try {
      const now = clock.now();
      const vm = state.vm(row.vmUuid);
      const src = state.hosts.get(row.source);
      if (!vm && (!src || !state.isReachable(src, now)) && now - this.readySinceMs < state.staleAfterMs * 2) {
        // Just restarted: the source has not reported yet. Wait for it rather than cancel.
        this.active.delete(row.id);
        this.enqueue(store.migrations.update(row.id, { status: "pending", atMs: now }));
        return;
      }
      if (!vm || vm.host !== row.source) {
        return this.finish(a, "cancelled", {
          code: "vm-moved",
          message: `VM is no longer on ${row.source} (now ${vm?.host ?? "not reported"})`,
        });
      }
      if (!state.canBeSource(row.source, now) || !state.canBeDestination(row.destination, now)) {
        return this.finish(a, "cancelled", {
          code: "host-unavailable",
          message: `${row.source} or ${row.destination} is not available any more`,
        });
      }
      const dest = state.hosts.get(row.destination)!;
      const uri = dest.report!.migrationUri;
      if (config.migration.preflight) {
        const pf = await agents.send(row.source, {
          kind: "preflight",
          id: `pf-${row.id}-${clock.now().toString(36)}`,
          vm: row.vmUuid,
          destination: { host: row.destination, uri },
          copyStorage: false,
        });
        const bad = (pf.checks ?? []).filter((c) => !c.ok);
        if (pf.status !== "succeeded" || bad.length > 0) {
          const why = bad.length ? bad.map((c) => `${c.check}: ${c.reason}`).join("; ") : (pf.error?.message ?? `preflight ${pf.status}`);
          return this.finish(a, "failed", {
            code: bad.length ? `preflight.${bad[0]!.check}` : (pf.error?.code ?? "preflight"),
            message: why,
          });
        }
      }
      // Persisted before the send: after a restart this move is asked about, never sent again.
      row = a.row = store.migrations.update(row.id, { status: "dispatched", atMs: clock.now(), ...this.sharedPrediction(row, vm.report) });
      const options: MigrateOptions = {
        maxDowntimeMs: config.migration.maxDowntimeMs,
        ...(config.migration.bandwidthMiBs ? { bandwidthMiBs: config.migration.bandwidthMiBs } : {}),
        persistOnDestination: true,
        undefineOnSource: true,
        offline: false,
        copyStorage: false,
        allowUnsafe: config.migration.allowUnsafe,
        allowPostCopy: config.migration.allowPostCopy && vm.report.tags.includes("drover:post-copy"),
        autoConverge: strategyOf(row.strategy).strategy === "live-auto-converge",
        escalation: config.migration.escalation,
        stallIterations: 3,
        stallMs: 5000,
        timeoutMs: config.migration.timeoutMs,
        progressIntervalMs: 500,
      };
      const t0 = performance.now();
      let reply: CommandReply;
      try {
        reply = await agents.send(row.source, {
          kind: "migrate",
          id: row.commandId,
          migrationId: row.id,
          vm: row.vmUuid,
          destination: { host: row.destination, uri },
          options,
        });
      } catch (e) {
        // The agent may or may not have it: follow by status until the deadline, never resend.
        log.warn({ migration: row.id, err: (e as Error).message }, "migrate command got no reply; following by status");
        a.deadlineMs = this.deadline(clock.now());
        a.lastHeardMs = 0;
        return;
      }
      metrics.dispatchLatency.observe((performance.now() - t0) / 1000);
      if (reply.status === "refused" || reply.status === "failed") {
        return this.finish(a, "failed", reply.error ?? { code: `agent.${reply.status}`, message: `agent ${reply.status} the migration` });
      }
      if (!this.active.has(row.id)) return; // the result raced the reply
      const started = clock.now();
      a.row = store.migrations.update(row.id, { status: "running", startedMs: started, atMs: started });
      a.deadlineMs = this.deadline(started);
      a.lastHeardMs = started;
      if (reply.status === "succeeded") await this.askStatus(a);
    } catch (e) {
      const err = e as Error & { code?: string };
      if (a.row.status === "preflight") {
        this.finish(a, "failed", { code: err.code ?? "preflight-error", message: err.message });
      } else {
        log.error({ migration: row.id, err }, "migration follow-up failed");
      }
    }
  }

  /**
   * Moves running at once from or to the same hosts share the link (and the CPUs): the move's
   * prediction is made again with the bandwidth divided among them, and the count is recorded.
   */
  private sharedPrediction(row: MigrationRow, vm: Parameters<MovePredictor["predict"]>[0]): Partial<MigrationRow> {
    let n = 0;
    for (const a of this.active.values()) {
      const r = a.row;
      if (r.source === row.source || r.destination === row.destination || r.source === row.destination || r.destination === row.source) n++;
    }
    if (n <= 1) return {};
    const p = this.predictSafely(vm, n);
    const strategy = p?.strategy ?? strategyOf(row.strategy).strategy ?? "live";
    this.d.log.info(
      { migration: row.id, concurrent: n, predictedDurationMs: p?.durationMs ?? null },
      "move shares its hosts; prediction made for the shared link",
    );
    return {
      strategy: `${strategy}; ${n} concurrent`,
      ...(p ? { predictedDurationMs: p.durationMs, predictedDowntimeMs: p.downtimeMs } : {}),
    };
  }

  private onProgress(p: MigrationProgress): void {
    const a = this.active.get(p.migrationId);
    if (!a) return;
    a.progress = p;
    a.lastHeardMs = this.d.clock.now();
    if (a.row.status !== "running") {
      a.row = this.d.store.migrations.update(a.row.id, {
        status: "running",
        startedMs: a.row.startedMs ?? this.d.clock.now(),
        atMs: this.d.clock.now(),
      });
    }
  }

  private onResult(r: MigrationResult): void {
    const a = this.active.get(r.migrationId);
    if (!a) return;
    const status: MigrationStatus = r.outcome;
    if (r.outcome === "succeeded" && r.completedBy === "live" && strategyOf(a.row.strategy).concurrent === 1) {
      const vm = this.d.state.vm(a.row.vmUuid)?.report;
      if (vm) {
        this.predictor.learn(vm, { durationMs: r.durationMs, downtimeMs: r.downtimeMs });
        this.d.log.info(
          { migration: r.migrationId, measuredMs: r.durationMs, learned: this.predictor.learned ?? null },
          "cost model learned from a measured migration",
        );
      }
    }
    if (r.outcome === "succeeded" && r.vmRunningOn) this.d.state.moveVm(a.row.vmUuid, r.vmRunningOn);
    this.finish(a, status, r.error, {
      measuredDurationMs: r.durationMs,
      measuredDowntimeMs: r.downtimeMs,
      bytesMoved: r.bytesMoved,
      completedBy: r.completedBy,
      escalations: r.escalations,
      startedMs: a.row.startedMs ?? r.startedAtMs,
    });
  }

  /** Periodic: timeouts, and asking about moves gone quiet (a lost result message). */
  async tick(): Promise<void> {
    const now = this.d.clock.now();
    const checks: Promise<void>[] = [];
    for (const a of this.active.values()) {
      if (a.row.status === "preflight") continue;
      if (now > a.deadlineMs) checks.push(this.timeOut(a));
      else if (now - a.lastHeardMs > Math.max(5000, this.d.config.reports.intervalMs * 2)) checks.push(this.askStatus(a));
    }
    await Promise.allSettled(checks);
    this.landedMoves(); // forgets the moves the reports now show, even when nothing plans
    this.pump();
  }

  /** Asks the source agent for the command's status and acts on a final one. */
  private async askStatus(a: Active): Promise<void> {
    const { agents, clock, log } = this.d;
    a.statusAsks++;
    let reply: CommandReply;
    try {
      reply = await agents.status(a.row.source, a.row.commandId, `st-${a.row.id}-${a.statusAsks}-${clock.now().toString(36)}`);
    } catch (e) {
      log.warn({ migration: a.row.id, err: (e as Error).message }, "status request failed");
      return;
    }
    this.applyStatus(a, reply);
  }

  /** Acts on the agent's answer about a migrate command (shared with restart reconciliation). */
  applyStatus(a: { row: MigrationRow } & Partial<Active>, reply: CommandReply): void {
    const active = this.active.get(a.row.id);
    if (!active) return;
    active.lastHeardMs = this.d.clock.now();
    if (reply.status === "accepted" || reply.status === "running") {
      if (active.row.status !== "running") {
        active.row = this.d.store.migrations.update(active.row.id, {
          status: "running",
          startedMs: active.row.startedMs ?? this.d.clock.now(),
          atMs: this.d.clock.now(),
        });
        active.deadlineMs = this.deadline(active.row.startedMs ?? this.d.clock.now());
      }
      return;
    }
    // Final without a result message: where the VM is reported decides the outcome.
    const where = this.d.state.vm(active.row.vmUuid)?.host ?? null;
    if (reply.status === "succeeded") {
      if (where === active.row.destination || where === null) {
        this.d.state.moveVm(active.row.vmUuid, active.row.destination);
        this.finish(active, "succeeded", null);
      }
      return;
    }
    this.finish(active, "failed", reply.error ?? { code: `agent.${reply.status}`, message: `agent reports the command ${reply.status}` });
  }

  private async timeOut(a: Active): Promise<void> {
    const { agents, clock, log } = this.d;
    if (!a.abortSent) {
      a.abortSent = true;
      a.deadlineMs = clock.now() + this.d.config.migration.resultGraceMs;
      log.warn({ migration: a.row.id }, "migration timed out; aborting");
      try {
        await agents.send(a.row.source, { kind: "abort", id: `abort-${a.row.id}`, migrationId: a.row.id });
      } catch (e) {
        log.warn({ migration: a.row.id, err: (e as Error).message }, "abort got no reply");
      }
      return;
    }
    // No result even after the abort: record the timeout with where the VM is seen.
    const where = this.d.state.vm(a.row.vmUuid)?.host ?? "unknown";
    this.finish(a, "timed-out", {
      code: "timeout",
      message: `no result within ${this.d.config.migration.timeoutMs} ms (+grace); VM reported on ${where}`,
    });
  }

  /** Records the end of a move (once), frees its slot and starts what waits. */
  finish(a: { row: MigrationRow }, status: MigrationStatus, error: ErrorInfo | null, extra: Partial<MigrationRow> = {}): void {
    const { store, clock, metrics, log } = this.d;
    if (!this.active.delete(a.row.id) && !this.queued.delete(a.row.id)) return;
    const now = clock.now();
    const row = store.migrations.update(a.row.id, {
      status,
      error: error ? { code: error.code, message: error.message } : null,
      endedMs: now,
      atMs: now,
      ...(extra.measuredDurationMs !== undefined ? { measuredDurationMs: extra.measuredDurationMs } : {}),
      ...(extra.measuredDowntimeMs !== undefined ? { measuredDowntimeMs: extra.measuredDowntimeMs } : {}),
      ...(extra.bytesMoved !== undefined ? { bytesMoved: extra.bytesMoved } : {}),
      ...(extra.completedBy !== undefined ? { completedBy: extra.completedBy } : {}),
      ...(extra.escalations !== undefined ? { escalations: extra.escalations } : {}),
      ...(extra.startedMs != null ? { startedMs: extra.startedMs } : {}),
    });
    if (status === "succeeded") this.landed.set(row.id, row);
    metrics.migrations.inc({ outcome: status });
    metrics.migrationsInFlight.set(this.active.size);
    if (row.measuredDurationMs != null) metrics.migrationDuration.observe(row.measuredDurationMs / 1000);
    const level = FINISHED_FAILED.has(status) ? "warn" : "info";
    log[level]({ migration: row.id, vm: row.vmName, from: row.source, to: row.destination, status, error }, `migration ${status}`);
    try {
      this.onFinished?.(row);
    } catch (e) {
      log.error({ err: e, migration: row.id }, "onFinished handler failed");
    }
    this.pump();
  }

  /** Test/inspection: is this migration being followed? */
  isActive(id: string): boolean {
    return this.active.has(id) || this.queued.has(id);
  }

  static isActiveStatus(s: MigrationStatus): boolean {
    return ACTIVE.has(s);
  }
}
