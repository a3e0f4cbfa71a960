// Following a move from its slot to its end: preflight, dispatch (persisted before the send, sent
// once), progress, the result, status asks when it goes quiet, and abort then timed-out past its
// deadline. Every end goes through finish(), once.
import { BusStatusType, type Bus, type ConsumeVerdict, type Subscription } from "@drover/bus";
import type { MigrationResult } from "@drover/protocol";
import {
  DestinationFacts,
  DropLog,
  MigrationProgress,
  disksToCopy,
  hostOfSubject,
  subjects,
  type CommandReply,
  type ErrorInfo,
  type MigrateOptions,
  type VmReport,
} from "@drover/protocol";
import {
  FailedMigrationStatuses,
  InFlightMigrationStatuses,
  type MigrationPatch,
  type MigrationRow,
  type MigrationStatus,
} from "@drover/store";
import type { MovePredictor } from "../prediction.js";
import { NotFoundError, RefusedError } from "../errors.js";
import { mayPostCopy } from "../rules/merge.js";
import { isWriteFailure } from "../store-health.js";
import type { CostModelLearning } from "./learning.js";
import type { MigrationQueue } from "./queue.js";
import { destinationLabel, destinationState, whereVmIs, type PeerClusters } from "../peer-clusters.js";
import type { ServiceDeps } from "../service-deps.js";

/**
 * The migrate command's options: the move's strategy (the cost model's choice, recorded on the row)
 * carried out as the agent knows it, and copy-storage whenever a disk is on storage the destination
 * does not share (so a VM with a local disk is never sent a shared-storage move).
 */
export function migrateOptions(config: ServiceDeps["config"], strategy: string | null, vm: VmReport, copyStorage: boolean): MigrateOptions {
  const allowPostCopy = mayPostCopy(config.migration, vm);
  return {
    maxDowntimeMs: config.migration.maxDowntimeMs,
    ...(config.migration.bandwidthMiBs ? { bandwidthMiBs: config.migration.bandwidthMiBs } : {}),
    persistOnDestination: true,
    undefineOnSource: true,
    offline: strategy === "pause-and-copy",
    copyStorage,
    allowUnsafe: config.migration.allowUnsafe,
    allowPostCopy,
    postCopyAfterFirstPass: allowPostCopy && strategy === "post-copy",
    autoConverge: strategy === "live-auto-converge",
    escalation: config.migration.escalation,
    stallIterations: 3,
    stallMs: 5000,
    timeoutMs: config.migration.timeoutMs,
    progressIntervalMs: 500,
  };
}

interface Active {
  row: MigrationRow;
  progress: MigrationProgress | null;
  lastHeardMs: number;
  deadlineMs: number;
  abortSent: boolean;
  statusAsks: number;
  /** When the source was last asked about it (0: never): once per quiet period, not every tick. */
  lastAskMs: number;
  /** Who asked for this move to be aborted (`drover abort`); its end then names them. */
  abortedBy?: string;
  /** An end seen but not yet recorded (the store refused the write): recorded again by tick(). */
  unrecorded?: { status: MigrationStatus; error: ErrorInfo | null; extra: Partial<MigrationRow> };
}

const FINISHED_FAILED: ReadonlySet<MigrationStatus> = new Set(FailedMigrationStatuses);
/** completedBy of a move whose end was not measured by its agent (the rungs it climbed are not known). */
export const UNKNOWN_COMPLETION = "unknown";

/**
 * When a move started as far as the record knows: its recorded start, or for one sent but never
 * confirmed (`dispatched`, its reply lost), when it was sent; null before that.
 */
function startOf(row: MigrationRow): number | null {
  return row.startedMs ?? (row.status === "dispatched" ? row.updatedMs : null);
}

const IN_FLIGHT: ReadonlySet<MigrationStatus> = new Set(InFlightMigrationStatuses);

export interface FollowUpDeps extends ServiceDeps {
  bus: Bus;
  /** Where a move goes back when its source has not reported since the restart; finish() also ends queued moves. */
  queue: MigrationQueue;
  predictor: MovePredictor;
  learning: CostModelLearning;
  /** When the dispatcher became ready (restart reconciliation done). */
  readySinceMs: () => number;
  /** Called once a move's end is recorded (any outcome); the slot is free by then. */
  ended: (row: MigrationRow) => void;
  /** Other clusters an operator may move VMs to (config `peerClusters`). */
  peers: PeerClusters;
}

export class FollowUp {
  private readonly active = new Map<string, Active>();
  private readonly subs: Subscription[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly drops: DropLog;
  /** Since when the bus has been down (null: connected): nothing can be heard, so nothing times out. */
  private cutOffSinceMs: number | null = null;
  private offStatus: (() => void) | undefined;

  constructor(private readonly d: FollowUpDeps) {
    this.drops = new DropLog(d.log, d.config.reports.dropLogIntervalMs, "migration messages");
  }

  /** Progress arrives as it is published (a lost one is replaced by the next); results come from the stream (acceptResult). */
  start(): void {
    const { bus, config } = this.d;
    this.subs.push(
      bus.subscribe(subjects.allMigrationProgress(config.cluster), MigrationProgress, (p, ctx) => {
        const a = this.fromSource(p, ctx.subject);
        if (a) this.onProgress(a, p);
      }),
    );
    this.offStatus = bus.onStatus((s) => {
      if (s.type === BusStatusType.Disconnect) this.cutOffSinceMs ??= this.d.clock.now();
      if (s.type === BusStatusType.Reconnect) this.reconnected();
    });
  }

  /**
   * Back from a NATS outage: the time cut off does not count against any move (its result may be
   * waiting in the stream), and none is asked about before the stream had a moment to deliver.
   */
  private reconnected(): void {
    if (this.cutOffSinceMs === null) return;
    const now = this.d.clock.now();
    const outage = now - this.cutOffSinceMs;
    this.cutOffSinceMs = null;
    for (const a of this.active.values()) {
      a.deadlineMs += outage;
      a.lastHeardMs = now;
    }
    this.d.log.info({ outageMs: outage, following: this.active.size }, "bus back: deadlines of moves in flight extended by the outage");
  }

  /**
   * A result from the results stream (the leader reads it; results-intake.ts acks what this says).
   * A followed move ends with it; a move already ended keeps its outcome and gains the measurements
   * a status answer could not give; one not followed yet (reconciliation under way) is retried.
   */
  acceptResult(r: MigrationResult, subject: string): ConsumeVerdict {
    if (this.active.has(r.migrationId)) {
      const a = this.fromSource(r, subject);
      if (a) this.onResult(a, r);
      return "ack";
    }
    const row = this.d.store.migrations.get(r.migrationId);
    if (!row || row.commandId !== r.commandId) {
      this.d.log.warn({ migration: r.migrationId, cmd: r.commandId, subject }, "result for a move this scheduler does not know; dropped");
      return "ack";
    }
    if (IN_FLIGHT.has(row.status)) return "retry";
    if (
      hostOfSubject(subject) === row.source &&
      // Settled without a result (a status answer, the reports): its duration is an upper bound, its rungs unknown.
      (row.measuredDurationMs == null || row.completedBy === UNKNOWN_COMPLETION) &&
      (row.status === "succeeded") === (r.outcome === "succeeded")
    ) {
      this.d.store.migrations.update(row.id, {
        measuredDurationMs: r.durationMs,
        measuredDowntimeMs: r.downtimeMs,
        bytesMoved: r.bytesMoved,
        completedBy: r.completedBy,
        escalations: r.escalations,
      });
      this.d.log.info(
        { migration: row.id, status: row.status, durationMs: r.durationMs },
        "measurements of an ended move recorded from its result",
      );
    }
    return "ack";
  }

  /**
   * The followed move a progress or result message is about, if it came from that move's source:
   * only the source runs it. One from another host is dropped (counted, logged) and changes nothing.
   */
  private fromSource(m: MigrationProgress | MigrationResult, subject: string): Active | undefined {
    const a = this.active.get(m.migrationId);
    if (!a) return undefined;
    if (hostOfSubject(subject) === a.row.source) return a;
    const now = this.d.clock.now();
    this.d.metrics.migrationMessagesRejected.inc({ reason: "wrong-host" });
    this.drops.note(subject, "wrong-host", now, { migration: a.row.id, source: a.row.source });
    return undefined;
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.offStatus?.();
    await Promise.allSettled([...this.running]);
  }

  /** The moves being followed, as last recorded. */
  rows(): MigrationRow[] {
    return [...this.active.values()].map((a) => a.row);
  }

  get size(): number {
    return this.active.size;
  }

  has(id: string): boolean {
    return this.active.has(id);
  }

  forVm(uuid: string): MigrationRow | undefined {
    for (const a of this.active.values()) if (a.row.vmUuid === uuid) return a.row;
    return undefined;
  }

  progressOf(id: string): MigrationProgress | null {
    return this.active.get(id)?.progress ?? null;
  }

  /**
   * Runs moves the limits admitted. All of them take their slot before any runs, so a move that
   * ends at once (and starts what waits) cannot let the queue overtake the others.
   */
  run(rows: readonly MigrationRow[]): void {
    const { store, clock, metrics } = this.d;
    const taken: Active[] = [];
    for (const [i, r] of rows.entries()) {
      let row: MigrationRow;
      try {
        row = store.migrations.update(r.id, { status: "preflight", atMs: clock.now() });
      } catch (e) {
        // Not recorded as started: it and those after it wait in the queue, nothing sent.
        for (const back of rows.slice(i)) this.d.queue.add(back);
        if (!isWriteFailure(e)) this.d.log.error({ migration: r.id, err: e }, "starting a move failed");
        break;
      }
      const a: Active = {
        row,
        progress: null,
        lastHeardMs: clock.now(),
        deadlineMs: Number.POSITIVE_INFINITY,
        abortSent: false,
        statusAsks: 0,
        lastAskMs: 0,
      };
      this.active.set(a.row.id, a);
      taken.push(a);
    }
    metrics.migrationsInFlight.set(this.active.size);
    for (const a of taken) this.track(this.follow(a));
  }

  /** Follows a move an agent is running (restart reconciliation). */
  adopt(row: MigrationRow): void {
    const now = this.d.clock.now();
    const started = row.startedMs ?? now;
    this.active.set(row.id, {
      row,
      progress: null,
      lastHeardMs: now,
      deadlineMs: this.deadline(started),
      abortSent: false,
      statusAsks: 0,
      lastAskMs: 0,
    });
    this.d.metrics.migrationsInFlight.set(this.active.size);
  }

  private track(p: Promise<void>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private deadline(startedMs: number): number {
    return startedMs + this.d.config.migration.timeoutMs + this.d.config.migration.resultGraceMs;
  }

  private async follow(a: Active): Promise<void> {
    const { store, clock, state, config, agents, log, metrics } = this.d;
    let row = a.row;
    try {
      const now = clock.now();
      const vm = state.vm(row.vmUuid);
      const src = state.hosts.get(row.source);
      if (!vm && (!src || !state.isReachable(src, now)) && now - this.d.readySinceMs() < state.staleAfterMs * 2) {
        // Just restarted: the source has not reported yet. Wait for it rather than cancel.
        this.active.delete(row.id);
        metrics.migrationsInFlight.set(this.active.size);
        this.d.queue.add(store.migrations.update(row.id, { status: "pending", atMs: now }));
        return;
      }
      if (!vm || vm.host !== row.source) {
        return this.finish(a, "cancelled", {
          code: "vm-moved",
          message: `VM is no longer on ${row.source} (now ${vm?.host ?? "not reported"})`,
        });
      }
      // A move across clusters is judged, and its destination read, in the peer cluster's picture.
      const dst = destinationState(this.d, row.destinationCluster);
      const sourceOk = state.canBeSource(row.source, now);
      if (!sourceOk || !dst?.canBeDestination(row.destination, now)) {
        const stateIn = (s: typeof state | undefined, id: string) => {
          const h = s?.hosts.get(id);
          return h ? s!.stateOf(h, now) : "unknown";
        };
        const why = sourceOk ? [] : [`${row.source} is ${stateIn(state, row.source)}`];
        if (!dst?.canBeDestination(row.destination, now)) why.push(`${row.destination} is ${stateIn(dst, row.destination)}`);
        return this.finish(a, "cancelled", { code: "host-unavailable", message: `not sent: ${why.join(", ")}` });
      }
      // The destination as its own report gives it: the agent checks URI and host UUID against that report.
      const destReport = dst.hosts.get(row.destination)!.report!;
      const { migrationUri: uri, hostUuid } = destReport;
      const destination = {
        host: row.destination,
        uri,
        ...(hostUuid === undefined ? {} : { hostUuid }),
        ...(row.destinationCluster ? { cluster: row.destinationCluster } : {}),
      };
      const copyStorage = disksToCopy(vm.report.disks, state.hosts.get(row.source)!.report!.storage, destReport.storage).length > 0;
      if (config.migration.preflight) {
        const pf = await agents.send(row.source, {
          kind: "preflight",
          id: `pf-${row.id}-${clock.now().toString(36)}`,
          vm: row.vmUuid,
          destination,
          copyStorage,
          // What the scheduler already holds of the destination: the source need not wait for a report of its own.
          destinationFacts: DestinationFacts.parse(destReport),
          allowOlderHypervisor: config.migration.allowOlderHypervisor,
        });
        const bad = (pf.checks ?? []).filter((c) => !c.ok);
        metrics.preflightFailed(bad);
        if (pf.status !== "succeeded" || bad.length > 0) {
          const why = bad.length ? bad.map((c) => `${c.check}: ${c.reason}`).join("; ") : (pf.error?.message ?? `preflight ${pf.status}`);
          return this.finish(a, "failed", {
            code: bad.length ? `preflight.${bad[0]!.check}` : (pf.error?.code ?? "preflight"),
            message: why,
          });
        }
        if (!this.active.has(row.id)) return; // aborted by an operator during the preflight
      }
      // Persisted before the send: after a restart this move is asked about, never sent again.
      row = a.row = store.migrations.update(row.id, { status: "dispatched", atMs: clock.now(), ...this.sharedLink(row, vm.report) });
      const options = migrateOptions(config, row.strategy, vm.report, copyStorage);
      const t0 = performance.now();
      let reply: CommandReply;
      try {
        reply = await agents.send(row.source, {
          kind: "migrate",
          id: row.commandId,
          migrationId: row.id,
          vm: row.vmUuid,
          destination,
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
      if (a.row.status === "preflight" && isWriteFailure(e)) {
        // "dispatched" could not be recorded, so nothing was sent: the move waits in the queue.
        this.active.delete(a.row.id);
        this.d.metrics.migrationsInFlight.set(this.active.size);
        this.d.queue.add(a.row);
      } else if (a.row.status === "preflight") {
        this.finish(a, "failed", { code: err.code ?? "preflight-error", message: err.message });
      } else {
        log.error({ migration: row.id, err }, "migration follow-up failed");
      }
    }
  }

  /**
   * Moves running at once from or to the same hosts share the link (and the CPUs): the count is
   * recorded, and a shared move's prediction is made again with the bandwidth divided among them.
   */
  private sharedLink(row: MigrationRow, vm: VmReport): MigrationPatch {
    let n = 0;
    for (const a of this.active.values()) {
      const r = a.row;
      if (r.source === row.source || r.destination === row.destination || r.source === row.destination || r.destination === row.source) n++;
    }
    if (n <= 1) return { concurrent: 1 };
    const p = this.d.predictor.tryPredict(vm, n, this.d.log, { source: row.source, destination: row.destination });
    this.d.log.info(
      { migration: row.id, concurrent: n, predictedDurationMs: p?.durationMs ?? null },
      "move shares its hosts; prediction made for the shared link",
    );
    return { concurrent: n, ...(p ? { strategy: p.strategy, predictedDurationMs: p.durationMs, predictedDowntimeMs: p.downtimeMs } : {}) };
  }

  private onProgress(a: Active, p: MigrationProgress): void {
    a.progress = p;
    a.lastHeardMs = this.d.clock.now();
    if (a.row.status !== "running") {
      try {
        a.row = this.d.store.migrations.update(a.row.id, {
          status: "running",
          startedMs: a.row.startedMs ?? this.d.clock.now(),
          atMs: this.d.clock.now(),
        });
      } catch (e) {
        // Recorded by the next progress, status answer or the result; the progress itself is kept.
        if (!isWriteFailure(e)) throw e;
      }
    }
  }

  private onResult(a: Active, r: MigrationResult): void {
    this.d.learning.observe(a.row, r, this.d.state.vm(a.row.vmUuid)?.report);
    // Unverified by the agent, a succeeded move's VM runs where libvirt committed it: the destination.
    if (r.outcome === "succeeded") this.landed(a.row, r.vmRunningOn ?? a.row.destination);
    const error =
      a.abortedBy !== undefined && r.outcome !== "succeeded"
        ? { code: "aborted-by-operator", message: `aborted at the request of ${a.abortedBy}${r.error ? `: ${r.error.message}` : ""}` }
        : r.error;
    this.finish(a, r.outcome, error, {
      measuredDurationMs: r.durationMs,
      measuredDowntimeMs: r.downtimeMs,
      bytesMoved: r.bytesMoved,
      completedBy: r.completedBy ?? (r.outcome === "succeeded" ? UNKNOWN_COMPLETION : null),
      escalations: r.escalations,
      startedMs: a.row.startedMs ?? r.startedAtMs,
    });
  }

  /**
   * Periodic: ends seen but not yet recorded, timeouts, and asking about moves gone quiet (a lost
   * result message). Not `acting` (the store refuses writes): only the asking, since an abort is a
   * command and a timeout an end that could not be recorded.
   */
  async tick(acting = true): Promise<void> {
    const now = this.d.clock.now();
    this.drops.flush(now);
    // Cut off from NATS: no result can arrive and no agent can answer, so nothing is judged now.
    if (this.cutOffSinceMs !== null) return;
    const checks: Promise<void>[] = [];
    const quietMs = Math.max(5000, this.d.config.reports.intervalMs * 2);
    for (const a of [...this.active.values()]) {
      if (a.unrecorded) {
        if (acting) this.finish(a, a.unrecorded.status, a.unrecorded.error, a.unrecorded.extra);
        continue;
      }
      if (a.row.status === "preflight") continue;
      if (now > a.deadlineMs) {
        if (acting) checks.push(this.timeOut(a));
      } else if (now - a.lastHeardMs > quietMs && now - a.lastAskMs >= quietMs) checks.push(this.askStatus(a));
    }
    await Promise.allSettled(checks);
  }

  /** Asks the source agent for the command's status and acts on a final one. */
  private async askStatus(a: Active): Promise<void> {
    const { agents, clock, log } = this.d;
    a.statusAsks++;
    a.lastAskMs = clock.now();
    let reply: CommandReply;
    try {
      reply = await agents.status(a.row.source, a.row.commandId, `st-${a.row.id}-${a.statusAsks}-${clock.now().toString(36)}`);
    } catch (e) {
      if (this.active.get(a.row.id) === a && this.landedBehindSilentSource(a.row)) {
        log.info({ migration: a.row.id, vm: a.row.vmName, host: a.row.destination }, "source agent silent; the VM runs on the destination");
        return this.settleLanded(a);
      }
      log.warn({ migration: a.row.id, err: (e as Error).message }, "status request failed");
      return;
    }
    this.applyStatus(a, reply);
  }

  /** Acts on the agent's answer about a migrate command (shared with restart reconciliation). */
  applyStatus(a: { row: MigrationRow }, reply: CommandReply): void {
    const active = this.active.get(a.row.id);
    if (!active) return;
    const { store, clock } = this.d;
    active.lastHeardMs = clock.now();
    if (reply.status === "accepted" || reply.status === "running") {
      if (active.row.status !== "running") {
        active.row = store.migrations.update(active.row.id, {
          status: "running",
          startedMs: startOf(active.row) ?? clock.now(),
          atMs: clock.now(),
        });
        active.deadlineMs = this.deadline(active.row.startedMs ?? clock.now());
      }
      return;
    }
    // Final without a result message: where the VM is reported decides the outcome.
    const where = whereVmIs(this.d, active.row);
    if (reply.status === "refused" && reply.error?.code === "unknown-command") return this.settleUnknown(active, where);
    if (reply.status === "succeeded") {
      if (where === active.row.destination || where === null) this.settleLanded(active);
      return;
    }
    this.finish(active, "failed", reply.error ?? { code: `agent.${reply.status}`, message: `agent reports the command ${reply.status}` });
  }

  /**
   * The source's agent is silent (crashed, or its host gone) and the destination reports the VM
   * running: libvirt resumes the destination's copy only once the move has committed, so the move
   * landed, and waiting for its deadline would only hold its slots and the VM. Not for a move that
   * may switch to post-copy, where the destination runs before the move ends (a source lost then
   * loses the guest: the deadline records it), nor across clusters (another scheduler's picture).
   */
  private landedBehindSilentSource(row: MigrationRow): boolean {
    const { state, clock, config } = this.d;
    if (row.destinationCluster) return false;
    const source = state.hosts.get(row.source);
    if (source !== undefined && state.isReachable(source, clock.now())) return false;
    const vm = state.vm(row.vmUuid);
    return vm?.host === row.destination && vm.report.state === "running" && !mayPostCopy(config.migration, vm.report);
  }

  /**
   * The source agent does not know the move's command. Never recorded as running (no reply was
   * ever recorded), it never reached the agent: nothing happened, nothing is charged to the pair.
   * Recorded as running, the agent restarted without its state: it cannot say, the reports can. The
   * VM on the destination is a move that worked (never a failure charged to the pair); on the
   * source, one that did not; reported nowhere yet, the deadline decides.
   */
  private settleUnknown(active: Active, where: string | null): void {
    const { row } = active;
    const vm = row.vmName ?? row.vmUuid;
    if (where === row.destination) return this.settleLanded(active);
    if (row.status !== "running") {
      return this.finish(active, "cancelled", {
        code: "command-lost",
        message: `the agent on ${row.source} never received command ${row.commandId} (moving ${vm}); VM reported on ${where ?? "no host"}`,
      });
    }
    if (where === row.source) {
      this.finish(active, "failed", {
        code: "agent.unknown-command",
        message: `the agent on ${row.source} does not know command ${row.commandId} (restarted without its state?); ${vm} is reported on ${where}`,
      });
    }
  }

  /**
   * A move that ended on its destination with no result message (lost while the scheduler or NATS
   * was down, or the agent forgot it): the duration is what the record shows, from its start to the
   * end seen here (so at most the true one plus the time it went unseen); downtime and what
   * completed it were not measured and are recorded as unknown, never as a guess.
   */
  private settleLanded(active: Active): void {
    const now = this.d.clock.now();
    this.landed(active.row, active.row.destination);
    const startedMs = startOf(active.row);
    this.finish(active, "succeeded", null, {
      measuredDurationMs: startedMs === null ? null : Math.max(0, now - startedMs),
      measuredDowntimeMs: null,
      completedBy: UNKNOWN_COMPLETION,
      ...(startedMs === null ? {} : { startedMs }),
    });
  }

  /**
   * The VM runs on `host` now: this cluster's picture places it there, or, moved to another cluster,
   * no longer holds it (else it stayed on its source until that host's next report, where a plan or
   * the API's `vmRunningOn` would take it).
   */
  private landed(row: MigrationRow, host: string): void {
    const now = this.d.clock.now();
    if (row.destinationCluster && host === row.destination) this.d.state.vmLeft(row.vmUuid, now);
    else this.d.state.moveVm(row.vmUuid, host, now);
  }

  /**
   * An operator's abort (`drover abort`). A move not sent yet (queued, or in its preflight) is
   * cancelled here: nothing reached libvirt. A sent one: the source agent aborts the libvirt job
   * (virDomainAbortJob) and its result records the move `aborted`, naming who asked, the guest
   * still running on the source. Refused for a move that has ended or that its agent does not run.
   */
  async abort(id: string, by: string): Promise<MigrationRow> {
    const { store, agents, log } = this.d;
    const row = store.migrations.get(id);
    if (!row) throw new NotFoundError(`no migration "${id}"`, "id");
    const a = this.active.get(id);
    const unsent = { code: "aborted-by-operator", message: `cancelled at the request of ${by} before it was sent` };
    if (!a) {
      if (!this.d.queue.has(id)) throw new RefusedError("not-in-flight", `migration ${id} is ${row.status}: nothing to abort`, "id");
      this.finish({ row }, "cancelled", unsent);
      return store.migrations.get(id)!;
    }
    if (a.row.status === "preflight") {
      this.finish(a, "cancelled", unsent);
      return store.migrations.get(id)!;
    }
    a.abortedBy = by;
    let reply: CommandReply;
    try {
      reply = await agents.send(a.row.source, { kind: "abort", id: `abort-${id}-${this.d.clock.now().toString(36)}`, migrationId: id });
    } catch (e) {
      // It may have aborted: the move is followed to its end as ever, and that end names who asked.
      throw new RefusedError("abort-unanswered", `${a.row.source} did not answer the abort of ${id}: ${(e as Error).message}`, "id");
    }
    if (reply.status !== "succeeded") {
      if (this.active.has(id)) delete a.abortedBy;
      throw new RefusedError(
        "abort-refused",
        `${a.row.source} did not abort migration ${id}: ${reply.error?.message ?? reply.status} (it may have just ended; see its state)`,
        "id",
      );
    }
    log.info({ migration: id, by }, "migration abort requested by an operator");
    return store.migrations.get(id)!;
  }

  private async timeOut(a: Active): Promise<void> {
    const { agents, clock, log, config } = this.d;
    if (!a.abortSent) {
      a.abortSent = true;
      a.deadlineMs = clock.now() + config.migration.resultGraceMs;
      log.warn({ migration: a.row.id }, "migration timed out; aborting");
      try {
        await agents.send(a.row.source, { kind: "abort", id: `abort-${a.row.id}`, migrationId: a.row.id });
      } catch (e) {
        log.warn({ migration: a.row.id, err: (e as Error).message }, "abort got no reply");
      }
      return;
    }
    // No result even after the abort: record the timeout with where the VM is seen.
    const where = whereVmIs(this.d, a.row) ?? "unknown";
    this.finish(a, "timed-out", {
      code: "timeout",
      message: `no result within ${config.migration.timeoutMs} ms (+grace); VM reported on ${where}`,
    });
  }

  /**
   * Records the end of a move, followed or still queued (once), and frees its slot. A followed move
   * whose end the store refused stays followed with that end, recorded again by tick().
   */
  finish(a: { row: MigrationRow }, status: MigrationStatus, error: ErrorInfo | null, extra: Partial<MigrationRow> = {}): void {
    const { store, clock, metrics, log } = this.d;
    const active = this.active.get(a.row.id);
    if (!active && !this.d.queue.has(a.row.id)) return;
    const now = clock.now();
    const endedMs = extra.endedMs ?? now;
    let row: MigrationRow;
    try {
      row = store.migrations.update(a.row.id, {
        status,
        error: error ? { code: error.code, message: error.message } : null,
        endedMs,
        atMs: now,
        ...(extra.measuredDurationMs !== undefined ? { measuredDurationMs: extra.measuredDurationMs } : {}),
        ...(extra.measuredDowntimeMs !== undefined ? { measuredDowntimeMs: extra.measuredDowntimeMs } : {}),
        ...(extra.bytesMoved !== undefined ? { bytesMoved: extra.bytesMoved } : {}),
        ...(extra.completedBy !== undefined ? { completedBy: extra.completedBy } : {}),
        ...(extra.escalations !== undefined ? { escalations: extra.escalations } : {}),
        ...(extra.startedMs != null ? { startedMs: extra.startedMs } : {}),
      });
    } catch (e) {
      if (!active || !isWriteFailure(e)) throw e;
      active.unrecorded = { status, error, extra: { ...extra, endedMs } };
      log.warn({ migration: a.row.id, status, err: e.message }, "move ended; its end is recorded once the store takes writes again");
      return;
    }
    if (active) this.active.delete(a.row.id);
    else this.d.queue.remove(a.row.id);
    metrics.migrationsInFlight.set(this.active.size);
    const level = FINISHED_FAILED.has(status) ? "warn" : "info";
    log[level]({ migration: row.id, vm: row.vmName, from: row.source, to: destinationLabel(row), status, error }, `migration ${status}`);
    this.d.ended(row);
  }
}
