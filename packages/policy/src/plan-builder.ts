// Collects a policy's steps (with their dependencies) and its explanations.

import type { ClusterModel } from "./model.js";
import type { MigrateStep, MigrationPrediction, NotMoved, PlanStep, RuleBlock } from "./types.js";

const RULE_SAMPLE = 20;

export class PlanBuilder {
  readonly steps: PlanStep[] = [];
  private readonly notMoved = new Map<number, { code: string; message: string }>();
  private readonly blocks = new Map<string, { code: string; message: string; count: number; vmIds: Set<string>; hostIds: Set<string> }>();
  /** Step indices of migrations leaving each host (by host index). */
  private readonly departures = new Map<number, number[]>();

  constructor(
    readonly model: ClusterModel,
    readonly policy: string,
  ) {}

  /**
   * Record the move in the model and as a step. The VMs of a unit share a group (the limits admit
   * them together); `group` names a larger one that holds this unit's steps and others.
   */
  migrate(
    unit: readonly number[],
    dst: number,
    code: string,
    message: string,
    extraDeps: readonly number[] = [],
    group: string | undefined = unit.length > 1 ? `affinity:${unit.map((v) => this.model.vmId(v)).join(",")}` : undefined,
  ): number[] {
    const m = this.model;
    const src = m.vmHost[unit[0] as number] as number;
    // Exact sizes and no callbacks: a big plan records 100,000s of moves.
    const out = new Array<number>(unit.length);
    const preds = new Array<MigrationPrediction | null>(unit.length);
    for (let k = 0; k < unit.length; k++) preds[k] = m.prediction(unit[k] as number, src, dst);
    m.move(unit, dst);
    // The destination may only have room once earlier departures from it are done.
    const before = this.departures.get(dst);
    const deps =
      extraDeps.length === 0 && before === undefined ? null : [...new Set<number>([...extraDeps, ...(before ?? [])])].sort((a, b) => a - b);
    const srcId = m.hostId(src);
    const dstId = m.hostId(dst);
    for (let k = 0; k < unit.length; k++) {
      const v = unit[k] as number;
      const index = this.steps.length;
      const step: MigrateStep = {
        kind: "migrate",
        index,
        // Each step its own array: a caller may rewrite one step's dependencies.
        dependsOn: deps === null ? [] : [...deps],
        code,
        message,
        policy: this.policy,
        vmId: m.vmId(v),
        sourceHostId: srcId,
        destinationHostId: dstId,
        prediction: preds[k] as MigrationPrediction,
      };
      this.steps.push(group === undefined ? step : { ...step, group });
      const list = this.departures.get(src);
      if (list === undefined) this.departures.set(src, [index]);
      else list.push(index);
      this.notMoved.delete(v);
      out[k] = index;
    }
    return out;
  }

  powerOff(h: number, code: string, message: string): number {
    const index = this.steps.length;
    this.steps.push({
      kind: "power-off",
      index,
      dependsOn: [...(this.departures.get(h) ?? [])],
      code,
      message,
      policy: this.policy,
      hostId: this.model.hostId(h),
    });
    return index;
  }

  wake(h: number, code: string, message: string): number {
    const host = this.model.hosts[h];
    const index = this.steps.length;
    this.steps.push({
      kind: "wake",
      index,
      dependsOn: [],
      code,
      message,
      policy: this.policy,
      hostId: this.model.hostId(h),
      readyByMs: this.model.nowMs + (host?.power.wakeLatencyMs ?? 0),
    });
    return index;
  }

  /** Explain why a VM that was considered stays where it is (the last reason wins). */
  note(v: number, code: string, message: string): void {
    if (this.model.vmMoved[v] === 1) return;
    this.notMoved.set(v, { code, message });
  }

  block(ruleId: string, code: string, v: number, h: number): void {
    let b = this.blocks.get(ruleId);
    if (b === undefined) {
      b = { code, message: `rule ${ruleId} (${code}) refused placements`, count: 0, vmIds: new Set(), hostIds: new Set() };
      this.blocks.set(ruleId, b);
    }
    b.count++;
    if (b.vmIds.size < RULE_SAMPLE) b.vmIds.add(this.model.vmId(v));
    if (b.hostIds.size < RULE_SAMPLE) b.hostIds.add(this.model.hostId(h));
  }

  notMovedList(): NotMoved[] {
    // In snapshot order (deterministic, and cheaper than sorting ids).
    const vs = [...this.notMoved.keys()].sort((a, b) => a - b);
    const out: NotMoved[] = [];
    for (const v of vs) {
      const r = this.notMoved.get(v);
      if (r === undefined || this.model.vmMoved[v] === 1) continue;
      out.push({
        vmId: this.model.vmId(v),
        hostId: this.model.hostId(this.model.vmHost[v] as number),
        code: r.code,
        message: r.message,
        policy: this.policy,
      });
    }
    return out;
  }

  ruleBlockList(): RuleBlock[] {
    return [...this.blocks.entries()]
      .map(([ruleId, b]) => ({
        ruleId,
        code: b.code,
        message: b.message,
        count: b.count,
        vmIds: [...b.vmIds],
        hostIds: [...b.hostIds],
        policy: this.policy,
      }))
      .sort((a, b) => (a.ruleId < b.ruleId ? -1 : 1));
  }
}
