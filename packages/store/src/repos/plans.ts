import type Database from "better-sqlite3";
import { amountOrNull, anyText, count, epochMs, fromJson, oneOf, rethrowConflict, text, textOrNull, toJson } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import {
  PlanModes,
  PlanStatuses,
  StepActions,
  StepStatuses,
  type PlanInput,
  type PlanMode,
  type PlanRow,
  type PlanStatus,
  type StepAction,
  type StepRow,
  type StepStatus,
} from "../types.js";

interface PlanSql {
  id: string;
  kind: string;
  created_ms: number;
  mode: string;
  status: string;
  status_ms: number;
  requested_by: string;
  decided_by: string | null;
  summary: string;
  explanation: string;
}

interface StepSql {
  plan_id: string;
  idx: number;
  action: string;
  vm_uuid: string | null;
  vm_name: string | null;
  source: string | null;
  destination: string | null;
  host: string | null;
  reason: string;
  predicted_duration_ms: number | null;
  predicted_downtime_ms: number | null;
  detail: string;
  status: string;
  migration_id: string | null;
}

const finalPlanStatuses: ReadonlySet<string> = new Set<PlanStatus>(["done", "rejected", "superseded"]);

function stepRow(r: StepSql): StepRow {
  return {
    index: r.idx,
    action: r.action as StepAction,
    vmUuid: r.vm_uuid,
    vmName: r.vm_name,
    source: r.source,
    destination: r.destination,
    host: r.host,
    reason: r.reason,
    predictedDurationMs: r.predicted_duration_ms,
    predictedDowntimeMs: r.predicted_downtime_ms,
    detail: fromJson("plan_steps", `${r.plan_id}#${r.idx}`, "detail", r.detail),
    status: r.status as StepStatus,
    migrationId: r.migration_id,
  };
}

export class Plans {
  readonly #insert: Database.Statement;
  readonly #insertStep: Database.Statement;
  readonly #get: Database.Statement<[string], PlanSql>;
  readonly #steps: Database.Statement<[string], StepSql>;
  readonly #list: Database.Statement<
    { status: string | null; since: number | null; host: string | null; vm: string | null; limit: number },
    PlanSql
  >;
  readonly #setStatus: Database.Statement;
  readonly #setStep: Database.Statement;
  readonly #insertTx: (p: PlanInput) => void;
  readonly #setStatusTx: (id: string, status: PlanStatus, atMs: number, by: string | null) => void;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO plans (id, kind, created_ms, mode, status, status_ms, requested_by, summary, explanation)
      VALUES (@id, @kind, @createdMs, @mode, @status, @createdMs, @requestedBy, @summary, @explanation)`);
    this.#insertStep = db.prepare(`
      INSERT INTO plan_steps (plan_id, idx, action, vm_uuid, vm_name, source, destination, host, reason,
        predicted_duration_ms, predicted_downtime_ms, detail, status, migration_id)
      VALUES (@planId, @index, @action, @vmUuid, @vmName, @source, @destination, @host, @reason,
        @predictedDurationMs, @predictedDowntimeMs, @detail, @status, @migrationId)`);
    this.#get = db.prepare("SELECT * FROM plans WHERE id = ?");
    this.#steps = db.prepare("SELECT * FROM plan_steps WHERE plan_id = ? ORDER BY idx");
    this.#list = db.prepare(`
      SELECT * FROM plans WHERE (@status IS NULL OR status = @status) AND (@since IS NULL OR created_ms >= @since)
        AND (@host IS NULL OR EXISTS (SELECT 1 FROM plan_steps s WHERE s.plan_id = plans.id
          AND (s.source = @host OR s.destination = @host OR s.host = @host)))
        AND (@vm IS NULL OR EXISTS (SELECT 1 FROM plan_steps s WHERE s.plan_id = plans.id AND (s.vm_uuid = @vm OR s.vm_name = @vm)))
      ORDER BY created_ms DESC, id DESC LIMIT @limit`);
    this.#setStatus = db.prepare(
      "UPDATE plans SET status = @status, status_ms = @atMs, decided_by = coalesce(@by, decided_by) WHERE id = @id",
    );
    this.#setStep = db.prepare(`
      UPDATE plan_steps SET status = @status, migration_id = coalesce(@migrationId, migration_id)
      WHERE plan_id = @planId AND idx = @index`);

    this.#insertTx = db.transaction((p: PlanInput) => {
      const w = "plans.insert";
      const id = text(w, "id", p.id);
      const createdMs = epochMs(w, "createdMs", p.createdMs);
      try {
        this.#insert.run({
          id,
          kind: text(w, "kind", p.kind),
          createdMs,
          mode: oneOf(w, "mode", PlanModes, p.mode),
          status: oneOf(w, "status", PlanStatuses, p.status ?? "proposed"),
          requestedBy: text(w, "requestedBy", p.requestedBy),
          summary: anyText(w, "summary", p.summary),
          explanation: toJson(w, "explanation", p.explanation),
        });
      } catch (err) {
        rethrowConflict(err, `${w}: plan '${id}'`);
      }
      if (!Array.isArray(p.steps)) throw new StoreError(StoreErrorCodes.InvalidInput, `${w}: steps must be an array`);
      for (const [i, s] of p.steps.entries()) {
        const f = (name: string): string => `steps[${i}].${name}`;
        try {
          this.#insertStep.run({
            planId: id,
            index: count(w, f("index"), s.index),
            action: oneOf(w, f("action"), StepActions, s.action),
            vmUuid: textOrNull(w, f("vmUuid"), s.vmUuid),
            vmName: textOrNull(w, f("vmName"), s.vmName),
            source: textOrNull(w, f("source"), s.source),
            destination: textOrNull(w, f("destination"), s.destination),
            host: textOrNull(w, f("host"), s.host),
            reason: anyText(w, f("reason"), s.reason),
            predictedDurationMs: amountOrNull(w, f("predictedDurationMs"), s.predictedDurationMs),
            predictedDowntimeMs: amountOrNull(w, f("predictedDowntimeMs"), s.predictedDowntimeMs),
            detail: toJson(w, f("detail"), s.detail),
            status: oneOf(w, f("status"), StepStatuses, s.status ?? "pending"),
            migrationId: textOrNull(w, f("migrationId"), s.migrationId),
          });
        } catch (err) {
          rethrowConflict(err, `${w}: plan '${id}' ${f("index")} (duplicate index, or unknown migrationId)`);
        }
      }
    });

    this.#setStatusTx = db.transaction((id: string, status: PlanStatus, atMs: number, by: string | null) => {
      const w = "plans.setStatus";
      const cur = this.#get.get(id);
      if (!cur) throw new StoreError(StoreErrorCodes.NotFound, `${w}: no plan '${id}'`);
      if (cur.status === status) return;
      if (finalPlanStatuses.has(cur.status)) {
        throw new StoreError(StoreErrorCodes.InvalidTransition, `${w}: plan '${id}' is ${cur.status}; it cannot become ${status}`);
      }
      this.#setStatus.run({ id, status, atMs, by });
    });
  }

  #row(p: PlanSql): PlanRow {
    return {
      id: p.id,
      kind: p.kind,
      createdMs: p.created_ms,
      mode: p.mode as PlanMode,
      status: p.status as PlanStatus,
      statusMs: p.status_ms,
      requestedBy: p.requested_by,
      decidedBy: p.decided_by,
      summary: p.summary,
      explanation: fromJson("plans", p.id, "explanation", p.explanation),
      steps: this.#steps.all(p.id).map(stepRow),
    };
  }

  /** The plan and its steps, atomically. */
  insert(p: PlanInput): void {
    this.#insertTx(p);
  }

  get(id: string): PlanRow | undefined {
    const p = this.#get.get(id);
    return p && this.#row(p);
  }

  /** Newest first. `host`, `vm` (uuid or name): only plans with a step that involves it. */
  list(opts: { limit?: number; status?: PlanStatus; since?: number; host?: string; vm?: string } = {}): PlanRow[] {
    const status = opts.status === undefined ? null : oneOf("plans.list", "status", PlanStatuses, opts.status);
    return this.#list
      .all({ status, since: opts.since ?? null, host: opts.host ?? null, vm: opts.vm ?? null, limit: opts.limit ?? 100 })
      .map((p) => this.#row(p));
  }

  /** Refuses to reopen a finished plan (done, rejected, superseded). `by`: who decided (approve, reject). */
  setStatus(id: string, status: PlanStatus, atMs: number, by?: string): void {
    const w = "plans.setStatus";
    this.#setStatusTx(id, oneOf(w, "status", PlanStatuses, status), epochMs(w, "atMs", atMs), textOrNull(w, "by", by));
  }

  /** migrationId, when given, links the step to the migration that carries it out. */
  setStepStatus(planId: string, index: number, status: StepStatus, migrationId?: string): void {
    const w = "plans.setStepStatus";
    let info: Database.RunResult;
    try {
      info = this.#setStep.run({
        planId,
        index,
        status: oneOf(w, "status", StepStatuses, status),
        migrationId: migrationId ?? null,
      });
    } catch (err) {
      rethrowConflict(err, `${w}: plan '${planId}' step ${index}: unknown migration '${migrationId}'`);
    }
    if (info.changes === 0) throw new StoreError(StoreErrorCodes.NotFound, `${w}: plan '${planId}' has no step ${index}`);
  }
}
