// Plans: snapshot -> policy -> stored plan; and running an approved plan's steps in order through
// the dispatcher (moves) and the power manager (power-off, wake).
import { planProfile, type Plan, type PlanStep } from "@drover/policy";
import type { ApiPlan, Logger, PlanKind } from "@drover/protocol";
import { planStatusShown, type Json, type MigrationRow, type PlanMode, type PlanRow, type Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { MoveRequest } from "./dispatcher.js";
import { NotFoundError, RefusedError } from "./errors.js";
import { newId } from "./ids.js";
import type { Metrics } from "./metrics.js";
import type { MigrationEvents } from "./migration-events.js";
import type { ClusterState } from "./cluster-state.js";
import { crossClusterSnapshot, planningSnapshot, type MovesView, type PlanningSources } from "./snapshot.js";
import type { Notify } from "./webhooks.js";

export interface PowerSteps {
  powerOff(host: string, requestedBy: string, reason: string): Promise<{ ok: boolean; message: string }>;
  wake(host: string, requestedBy: string, reason: string): Promise<{ ok: boolean; message: string }>;
}

interface Deferred {
  index: number;
  code: string;
  reason: string;
}

/**
 * A deferral as stored: `to` (when present) stands for the run of steps index..to deferred with
 * the same code and reason. A plan for 10,000 hosts defers 100,000 moves for the one cluster
 * limit; stored one by one they made a 10 MB explanation that every tick parsed again.
 */
type StoredDeferred = Deferred & { to?: number };

interface Explanation {
  policy: string;
  host: string | null;
  notMoved: { vm: string; host: string; code: string; reason: string }[];
  blocked: { rule: string; code: string; reason: string; vms: string[]; hosts: string[] }[];
  deferred: StoredDeferred[];
  metrics: Plan["metrics"];
}

/** Consecutive steps deferred alike, as runs. */
function storedDeferred(deferred: Plan["deferred"]): StoredDeferred[] {
  const out: StoredDeferred[] = [];
  let last: StoredDeferred | undefined;
  for (const d of deferred) {
    const index = d.step.index;
    if (last && index === (last.to ?? last.index) + 1 && d.code === last.code && d.message === last.reason) last.to = index;
    else out.push((last = { index, code: d.code, reason: d.message }));
  }
  return out;
}

/** The deferrals one by one, in plan order (a plan stored before runs has no `to`). */
function deferredList(stored: readonly StoredDeferred[]): Deferred[] {
  const out: Deferred[] = [];
  for (const d of stored) for (let i = d.index; i <= (d.to ?? d.index); i++) out.push({ index: i, code: d.code, reason: d.reason });
  return out;
}

/** The dispatcher as planning sees it: what moves are under way, and where a plan's moves go. */
export interface PlannerMoves extends MovesView {
  submit(req: MoveRequest): MigrationRow;
}

export interface PlannerDeps extends PlanningSources {
  store: Store;
  moves: PlannerMoves;
  /** Runs a plan's power-off and wake steps. */
  power: PowerSteps;
  /** A plan's move ended: its step is settled and the next ones start. */
  events: MigrationEvents;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  /** Webhooks: a plan waiting for approval (recommend mode). */
  notify?: Notify;
}

export class Planner {
  /** Plans being applied: plan id -> step indices started. */
  private readonly applying = new Map<string, Set<number>>();

  constructor(private readonly d: PlannerDeps) {
    d.events.onFinished((m) => this.onMigrationFinished(m));
  }

  /** Runs the policy for `kind` on the current cluster picture. Pure: nothing is stored. */
  compute(kind: PlanKind, host?: string): Plan {
    const t0 = performance.now();
    try {
      return this.runPolicy(kind, host);
    } finally {
      this.d.metrics.planCompute.observe({ kind }, (performance.now() - t0) / 1000);
    }
  }

  private runPolicy(kind: PlanKind, host?: string): Plan {
    const { config, clock } = this.d;
    const now = clock.now();
    const pc = config.policies[kind];
    const policy = pc.policy ?? kind;
    const args = kind === "drain" ? { ...pc.args, hostIds: host ? [host] : undefined } : pc.args;
    const snapshot = planningSnapshot(this.d, now, [{ policy, args }]);
    // A drain plans every move at once; the dispatcher's queue applies the in-flight limits. The
    // simulator plans through the same entry point (packages/sim/src/drover.ts).
    return planProfile(snapshot, { name: policy, policies: [{ policy, args }] }, { nowMs: now, seed: 1, unlimited: kind === "drain" });
  }

  /**
   * Where the VMs `vmUuids` of `host` (all of them when null) would go in the peer cluster `peer`:
   * the drain policy on the cross-cluster picture (snapshot.ts crossClusterSnapshot). Pure.
   */
  placeAcross(peer: ClusterState, host: string, vmUuids: ReadonlySet<string> | null): Plan {
    const now = this.d.clock.now();
    const pc = this.d.config.policies.drain;
    const policy = pc.policy ?? "drain";
    const args = { ...pc.args, hostIds: [host] };
    const snapshot = crossClusterSnapshot(this.d, peer, host, vmUuids, now);
    return planProfile(snapshot, { name: policy, policies: [{ policy, args }] }, { nowMs: now, seed: 1, unlimited: true });
  }

  /** Computes and stores a plan. `mode` decides whether it waits for approval or runs now. */
  make(kind: PlanKind, opts: { host?: string; requestedBy: string; mode: PlanMode; computed?: Plan }): PlanRow {
    const { store, clock, state } = this.d;
    // A caller that just computed the plan on this same picture passes it: a round is not run twice.
    const p = opts.computed ?? this.compute(kind, opts.host);
    const now = clock.now();
    const id = newId("plan", now);
    const name = (uuid: string) => state.vm(uuid)?.report.name ?? uuid;
    const explanation: Explanation = {
      policy: p.policy,
      host: opts.host ?? null,
      notMoved: p.notMoved.map((n) => ({ vm: name(n.vmId), host: n.hostId, code: n.code, reason: n.message })),
      blocked: p.ruleBlocks.map((b) => ({
        rule: b.ruleId,
        code: b.code,
        reason: b.message,
        vms: b.vmIds.map(name),
        hosts: [...b.hostIds],
      })),
      deferred: storedDeferred(p.deferred),
      metrics: p.metrics,
    };
    const moves = p.steps.filter((s) => s.kind === "migrate").length;
    // A recommended plan replaces the previous one of its kind still waiting for approval.
    if (opts.mode === "recommend" || opts.mode === "dry-run") {
      for (const old of store.plans.list({ status: "proposed", limit: 1000 })) {
        const oldHost = (old.explanation as { host?: string | null } | null)?.host ?? null;
        if (old.kind === kind && oldHost === (opts.host ?? null)) store.plans.setStatus(old.id, "superseded", now);
      }
    }
    store.plans.insert({
      id,
      kind,
      createdMs: now,
      mode: opts.mode,
      status: opts.mode === "automatic" || opts.mode === "manual" ? "approved" : "proposed",
      requestedBy: opts.requestedBy,
      summary: `${kind}${opts.host ? ` ${opts.host}` : ""}: ${moves} move(s), ${p.steps.length - moves} power step(s)`,
      explanation: explanation as unknown as Json,
      steps: p.steps.map((s) => toStepInput(s, name)),
    });
    this.d.metrics.plans.inc({ kind, mode: opts.mode });
    this.d.log.info({ plan: id, kind, mode: opts.mode, steps: p.steps.length, by: opts.requestedBy }, "plan made");
    const row = store.plans.get(id)!;
    // Only a plan with something to approve: an empty one needs no one's attention.
    if (opts.mode === "recommend" && p.steps.length > 0)
      this.d.notify?.({ event: "plan-proposed", id, ...(opts.host ? { host: opts.host } : {}), summary: row.summary });
    if (row.status === "approved") this.apply(row.id);
    return store.plans.get(id)!;
  }

  approve(id: string, by: string): PlanRow {
    const { store, clock, config } = this.d;
    const row = store.plans.get(id);
    if (!row) throw new NotFoundError(`no plan "${id}"`, "id");
    if (row.status !== "proposed")
      throw new RefusedError("plan-not-proposed", `plan ${id} is ${planToApi(row).status}; only a proposed plan can be approved`, "id");
    if (this.expireIfStale(row, clock.now()))
      throw new RefusedError("plan-expired", `plan ${id} is older than planTtlMs (${config.planTtlMs} ms); make a new one`, "id");
    store.plans.setStatus(id, "approved", clock.now(), by);
    this.d.log.info({ plan: id, by }, "plan approved");
    this.apply(id);
    return store.plans.get(id)!;
  }

  /** An operator says no to a proposed plan: nothing of it runs, and the history names who. */
  reject(id: string, by: string): PlanRow {
    const { store, clock } = this.d;
    const row = store.plans.get(id);
    if (!row) throw new NotFoundError(`no plan "${id}"`, "id");
    if (row.status !== "proposed")
      throw new RefusedError("plan-not-proposed", `plan ${id} is ${planToApi(row).status}; only a proposed plan can be rejected`, "id");
    store.plans.setStatus(id, "rejected", clock.now(), by);
    this.d.log.info({ plan: id, by }, "plan rejected");
    return store.plans.get(id)!;
  }

  /** Starts every step whose dependencies are done; finishes the plan when nothing is left. */
  apply(id: string): void {
    const { store, clock } = this.d;
    const row = store.plans.get(id);
    if (!row || (row.status !== "approved" && row.status !== "applying")) return;
    if (row.status === "approved") store.plans.setStatus(id, "applying", clock.now());
    let started = this.applying.get(id);
    if (!started) this.applying.set(id, (started = new Set()));
    const byIndex = new Map(row.steps.map((s) => [s.index, s]));
    const deps = (row.explanation as unknown as { deps?: Record<string, number[]> }).deps;
    for (const s of row.steps) {
      if (s.status !== "pending" || started.has(s.index)) continue;
      const waitFor = (s.detail as { dependsOn?: number[] } | null)?.dependsOn ?? deps?.[s.index] ?? [];
      const blocking = waitFor.map((i) => byIndex.get(i)).filter((x) => x && x.status !== "done");
      if (blocking.some((x) => x!.status === "failed" || x!.status === "skipped" || x!.status === "cancelled")) {
        store.plans.setStepStatus(id, s.index, "skipped");
        continue;
      }
      if (blocking.length > 0) continue;
      // A power-off waits until no move touches its host, the plan's own finished moves included
      // until both hosts' reports show them (the power guard would refuse it now); tick() retries.
      if (s.action === "power-off" && s.host && this.hostHasMoves(s.host)) continue;
      started.add(s.index);
      this.startStep(row, s);
    }
    this.maybeFinish(id);
  }

  private startStep(row: PlanRow, s: PlanRow["steps"][number]): void {
    const { store, moves, power, log } = this.d;
    const by = `plan:${row.id}`;
    if (s.action === "migrate") {
      try {
        const m = moves.submit({
          vm: s.vmUuid!,
          destination: s.destination!,
          requestedBy: by,
          reason: s.reason,
          planId: row.id,
          predictedDurationMs: s.predictedDurationMs,
          predictedDowntimeMs: s.predictedDowntimeMs,
          strategy: (s.detail as { strategy?: string } | null)?.strategy ?? null,
        });
        store.plans.setStepStatus(row.id, s.index, "dispatched", m.id);
      } catch (e) {
        log.warn({ plan: row.id, step: s.index, err: (e as Error).message }, "plan step not started");
        store.plans.setStepStatus(row.id, s.index, "skipped");
      }
      return;
    }
    if (!s.host) {
      store.plans.setStepStatus(row.id, s.index, "skipped");
      return;
    }
    store.plans.setStepStatus(row.id, s.index, "dispatched");
    const run = s.action === "wake" ? power.wake(s.host, by, s.reason) : power.powerOff(s.host, by, s.reason);
    void run
      .then((r) => store.plans.setStepStatus(row.id, s.index, r.ok ? "done" : "failed"))
      .catch(() => store.plans.setStepStatus(row.id, s.index, "failed"))
      .finally(() => this.apply(row.id));
  }

  /** A plan's move ended. */
  private onMigrationFinished(m: MigrationRow): void {
    if (!m.planId) return;
    const row = this.d.store.plans.get(m.planId);
    const step = row?.steps.find((s) => s.migrationId === m.id);
    if (!row || !step) return;
    const st = m.status === "succeeded" ? "done" : m.status === "cancelled" ? "skipped" : "failed";
    this.d.store.plans.setStepStatus(row.id, step.index, st, m.id);
    this.apply(row.id);
  }

  private maybeFinish(id: string): void {
    const row = this.d.store.plans.get(id);
    if (!row || row.status !== "applying") return;
    if (row.steps.every((s) => s.status === "done" || s.status === "failed" || s.status === "skipped" || s.status === "cancelled")) {
      this.d.store.plans.setStatus(id, "done", this.d.clock.now());
      this.applying.delete(id);
      this.d.log.info({ plan: id }, "plan finished");
    }
  }

  /** Plans left applying by a previous run continue (their moves are reconciled first). */
  resume(): void {
    this.tick();
    for (const p of this.d.store.plans.list({ status: "approved", limit: 1000 })) this.apply(p.id);
  }

  /**
   * Periodic: starts the steps of applying plans that were waiting (a power-off behind a landing
   * move); expires stale proposals. Returns the plans still proposed (the journal's sync reads them:
   * one read of them a tick).
   */
  tick(): PlanRow[] {
    const { store, clock } = this.d;
    for (const p of store.plans.list({ status: "applying", limit: 1000 })) this.apply(p.id);
    // A recommendation left undecided past planTtlMs is stale: it expires now, so the dashboard and
    // `drover plan` stop offering it, rather than when someone tries to approve it.
    const now = clock.now();
    return store.plans.list({ status: "proposed", limit: 1000 }).filter((p) => !this.expireIfStale(p, now));
  }

  /** Expires a proposed plan older than planTtlMs (rejected with no decider: the API's "expired"). */
  private expireIfStale(row: PlanRow, nowMs: number): boolean {
    if (nowMs - row.createdMs <= this.d.config.planTtlMs) return false;
    this.d.store.plans.setStatus(row.id, "rejected", nowMs);
    this.d.log.info({ plan: row.id, kind: row.kind, ageMs: nowMs - row.createdMs }, "plan expired");
    return true;
  }

  private hostHasMoves(host: string): boolean {
    return this.d.moves.inFlightForPolicy().some((m) => m.sourceHostId === host || m.destinationHostId === host);
  }
}

function toStepInput(s: PlanStep, name: (uuid: string) => string) {
  const base = {
    index: s.index,
    reason: s.message,
    detail: { code: s.code, policy: s.policy, dependsOn: [...s.dependsOn] } as Record<string, Json>,
  };
  if (s.kind === "migrate") {
    return {
      ...base,
      action: "migrate" as const,
      vmUuid: s.vmId,
      vmName: name(s.vmId),
      source: s.sourceHostId,
      destination: s.destinationHostId,
      predictedDurationMs: s.prediction.durationMs,
      predictedDowntimeMs: s.prediction.downtimeMs,
      detail: { ...base.detail, cost: s.prediction.cost, strategy: s.prediction.strategy },
    };
  }
  return { ...base, action: s.kind === "wake" ? ("wake" as const) : ("power-off" as const), host: s.hostId };
}

const stepState = {
  pending: "pending",
  dispatched: "running",
  done: "done",
  failed: "failed",
  skipped: "skipped",
  cancelled: "skipped",
} as const;

export function planToApi(row: PlanRow): ApiPlan {
  const ex = (row.explanation ?? {}) as unknown as Partial<Explanation>;
  const anyFailed = row.steps.some((s) => s.status === "failed");
  const shown = planStatusShown(row);
  const status = shown === "applying" ? "running" : shown === "done" && anyFailed ? "failed" : shown;
  return {
    id: row.id,
    kind: (["balance", "consolidate", "drain"].includes(row.kind) ? row.kind : "balance") as PlanKind,
    policy: ex.policy ?? row.kind,
    host: ex.host ?? null,
    status,
    requestedBy: row.requestedBy,
    decidedBy: row.decidedBy,
    createdAtMs: row.createdMs,
    updatedAtMs: row.statusMs,
    steps: row.steps.map((s) => {
      const d = (s.detail ?? {}) as { code?: string; policy?: string; cost?: number; strategy?: string; dependsOn?: number[] };
      return {
        index: s.index,
        kind: s.action === "maintenance" ? "migrate" : s.action,
        vm: s.vmName ?? s.vmUuid,
        source: s.source,
        destination: s.destination,
        host: s.host,
        dependsOn: d.dependsOn ?? [],
        code: d.code ?? "",
        reason: s.reason,
        policy: d.policy ?? row.kind,
        cost: d.cost ?? null,
        strategy: d.strategy ?? null,
        predictedDurationMs: s.predictedDurationMs,
        predictedDowntimeMs: s.predictedDowntimeMs,
        migrationId: s.migrationId,
        state: stepState[s.status],
        note: null,
      };
    }),
    notMoved: ex.notMoved ?? [],
    blocked: ex.blocked ?? [],
    deferred: deferredList(ex.deferred ?? []),
    metrics: ex.metrics ?? { imbalanceBefore: 0, imbalanceAfter: 0, activeHostsBefore: 0, activeHostsAfter: 0, totalMigrationCost: 0 },
  };
}
