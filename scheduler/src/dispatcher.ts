// The only code that starts, follows and aborts migrations, composed of one module per idea under
// migrations/: admission (may this move be queued), the queue under the in-flight limits, the
// follow-up of each move to its end, the landed moves the reports do not show yet, and cost-model
// learning. A move is persisted (with its command id) before anything is sent.
import type { Bus } from "@drover/bus";
import type { InFlightMigration } from "@drover/policy";
import type { CommandReply, ErrorInfo, MigrationProgress } from "@drover/protocol";
import type { MigrationRow, MigrationStatus } from "@drover/store";
import { newId } from "./ids.js";
import type { MigrationEvents } from "./migration-events.js";
import { admit, type MoveRequest } from "./migrations/admission.js";
import { FollowUp } from "./migrations/follow-up.js";
import { LandedMoves } from "./migrations/landed.js";
import { CostModelLearning } from "./migrations/learning.js";
import { MigrationQueue, asInFlight } from "./migrations/queue.js";
import { ResultsIntake } from "./migrations/results-intake.js";
import { leadershipSettings } from "./leadership.js";
import { MovePredictor, type LearnedModel } from "./prediction.js";
import { destinationLabel, type PeerClusters } from "./peer-clusters.js";
import type { ServiceDeps } from "./service-deps.js";

export type { MoveRequest } from "./migrations/admission.js";

export interface DispatcherDeps extends ServiceDeps {
  bus: Bus;
  /** Told about every migration that ends (any outcome). */
  events: MigrationEvents;
  /** False while the store refuses writes: no move starts (it could not be recorded first). */
  writable: () => boolean;
  /** Other clusters an operator may move VMs to (config `peerClusters`). */
  peers: PeerClusters;
}

export class Dispatcher {
  private readonly queue: MigrationQueue;
  private readonly landed: LandedMoves;
  private readonly predictor: MovePredictor;
  private readonly learning: CostModelLearning;
  private readonly followUp: FollowUp;
  private readonly results: ResultsIntake;
  private stopped = false;
  /** Set after restart reconciliation; no move is started before. */
  private isReady = false;
  private readySinceMs = 0;

  constructor(private readonly d: DispatcherDeps) {
    this.queue = new MigrationQueue(d.metrics);
    this.landed = new LandedMoves(d);
    this.predictor = new MovePredictor(d.config);
    this.learning = new CostModelLearning({ config: d.config, predictor: this.predictor, log: d.log });
    // Link bandwidths from the moves this store recorded, oldest first, so a restart keeps what was learned.
    for (const row of d.store.migrations.list({ status: "succeeded", limit: 1000 }).reverse()) {
      this.predictor.learnLink({ ...row, durationMs: row.measuredDurationMs, downtimeMs: row.measuredDowntimeMs });
    }
    this.followUp = new FollowUp({
      ...d,
      queue: this.queue,
      predictor: this.predictor,
      learning: this.learning,
      readySinceMs: () => this.readySinceMs,
      ended: (row) => this.ended(row),
    });
    this.results = new ResultsIntake({
      bus: d.bus,
      cluster: d.config.cluster,
      replicas: leadershipSettings(d.config).replicas,
      log: d.log,
      accept: (r, subject) => this.followUp.acceptResult(r, subject),
    });
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Ready (reconciled, leading): moves start, and results are read from the stream; not ready: neither. */
  set ready(v: boolean) {
    this.isReady = v;
    if (v) this.readySinceMs = this.d.clock.now();
    if (v && !this.stopped) this.results.start();
    else void this.results.stop();
  }

  start(): void {
    this.followUp.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.results.stop();
    await this.followUp.stop();
  }

  /** Validates and persists a move, then queues it. Throws DispatchError naming the reason. */
  submit(req: MoveRequest): MigrationRow {
    const { clock, store, log } = this.d;
    const now = clock.now();
    const vm = admit(this.d, req, now, (uuid) => this.forVm(uuid));
    const id = newId("mig", now);
    // Whoever asked, the move carries the cost model's figures (a plan's step brings its own).
    let predicted = {
      durationMs: req.predictedDurationMs ?? null,
      downtimeMs: req.predictedDowntimeMs ?? null,
      strategy: req.strategy ?? null,
    };
    if (predicted.durationMs === null) {
      const p = this.predictor.tryPredict(vm.report, 1, log, { source: vm.host, destination: req.destination });
      if (p) predicted = { durationMs: p.durationMs, downtimeMs: p.downtimeMs, strategy: p.strategy };
    }
    this.landed.forgetVm(vm.uuid);
    store.migrations.insert({
      id,
      commandId: `cmd-${id}`,
      planId: req.planId ?? null,
      vmUuid: vm.uuid,
      vmName: vm.report.name,
      source: vm.host,
      destination: req.destination,
      destinationCluster: req.destinationCluster ?? null,
      requestedBy: req.requestedBy,
      reason: req.reason,
      predictedDurationMs: predicted.durationMs,
      predictedDowntimeMs: predicted.downtimeMs,
      strategy: predicted.strategy,
      createdMs: now,
    });
    const row = store.migrations.get(id)!;
    this.enqueue(row);
    log.info({ migration: id, vm: vm.report.name, from: vm.host, to: destinationLabel(row), by: req.requestedBy }, "migration queued");
    this.pump();
    return row;
  }

  /** Re-queues a persisted move that never reached an agent (restart reconciliation). */
  enqueue(row: MigrationRow): void {
    this.queue.add(row);
  }

  /** Follows a move an agent is running (restart reconciliation). */
  adopt(row: MigrationRow): void {
    this.followUp.adopt(row);
  }

  /** Migration of this VM that is queued or running. */
  forVm(uuid: string): MigrationRow | undefined {
    return this.followUp.forVm(uuid) ?? this.queue.forVm(uuid);
  }

  progressOf(id: string): MigrationProgress | null {
    return this.followUp.progressOf(id);
  }

  /** Cost-model constants learned from measured migrations, for the planner's snapshot. */
  get learnedModel(): LearnedModel | undefined {
    return this.predictor.learned;
  }

  /** A host's migration bandwidth learned from its completed moves, for the planner's snapshot (undefined: the configured one). */
  hostLinkBandwidth(host: string): number | undefined {
    return this.predictor.hostBandwidth(host);
  }

  get inFlightCount(): number {
    return this.followUp.size;
  }

  get queuedCount(): number {
    return this.queue.size;
  }

  /**
   * Moves running, waiting, or succeeded but not yet shown by the reports of both hosts, as the
   * policy sees them (so it plans around them, never on the picture from before a move).
   */
  inFlightForPolicy(): InFlightMigration[] {
    return [...this.followUp.rows(), ...this.queue.values(), ...this.landed.current()].map(asInFlight);
  }

  /** Starts what the limits admit, in submission order. */
  pump(): void {
    if (this.stopped || !this.ready || !this.d.writable()) return;
    const admitted = this.queue.takeAdmitted(this.followUp.rows(), this.d.config.limits);
    if (admitted.length > 0) this.followUp.run(admitted);
  }

  /**
   * Periodic: timeouts, moves gone quiet, landed moves the reports now show, then what waits. Not
   * `acting` (the store refuses writes): only the moves in flight are asked about.
   */
  async tick(acting = true): Promise<void> {
    await this.followUp.tick(acting);
    if (!acting) return;
    this.landed.current(); // forgets the moves the reports now show, even when nothing plans
    this.pump();
  }

  /** Acts on the agent's answer about a migrate command (shared with restart reconciliation). */
  applyStatus(a: { row: MigrationRow }, reply: CommandReply): void {
    this.followUp.applyStatus(a, reply);
  }

  /** Records the end of a move, followed or queued (once), frees its slot and starts what waits. */
  finish(a: { row: MigrationRow }, status: MigrationStatus, error: ErrorInfo | null, extra: Partial<MigrationRow> = {}): void {
    this.followUp.finish(a, status, error, extra);
  }

  /**
   * Cancels every queued move (none was sent: a move's command goes out only after it leaves the
   * queue) with `error` as its cause; returns how many. A scheduler that stops leading calls it, so
   * it never sends a move from an old picture should it lead again; the next leader plans afresh.
   */
  dropQueued(error: ErrorInfo): number {
    const queued = [...this.queue.values()];
    for (const row of queued) this.finish({ row }, "cancelled", error);
    return queued.length;
  }

  /** `drover abort`: cancels a move not yet sent, or has its source agent abort the running job (FollowUp.abort). */
  abort(id: string, by: string): Promise<MigrationRow> {
    return this.followUp.abort(id, by);
  }

  /** Test/inspection: is this migration being followed or queued? */
  isActive(id: string): boolean {
    return this.followUp.has(id) || this.queue.has(id);
  }

  private ended(row: MigrationRow): void {
    if (row.status === "succeeded") this.landed.add(row);
    this.d.events.finished(row);
    this.pump();
  }
}
