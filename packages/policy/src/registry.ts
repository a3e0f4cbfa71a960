// Named policies, profiles that enable them, and the runner: model → policy → limits → plan.

import { z } from "zod";
import { applySteps } from "./apply-plan.js";
import { parseClusterConfig, type ClusterConfigInput } from "./config.js";
import { PolicyInputError, UnknownPolicyError } from "./errors.js";
import { applyLimits, type LimitResult } from "./limits.js";
import { activeHosts, IMBALANCE_WEIGHTS, imbalance } from "./metrics.js";
import { buildModel } from "./model.js";
import { PlanBuilder } from "./plan-builder.js";
import type { Policy } from "./policy.js";
import { recheckAdmitted } from "./recheck.js";
import { balancePolicy } from "./policies/balance.js";
import { consolidatePolicy } from "./policies/consolidate.js";
import { drainPolicy } from "./policies/drain.js";
import type { ClusterSnapshot, NotMoved, Plan, PlanStep, RuleBlock } from "./types.js";

const registry = new Map<string, Policy>([
  [balancePolicy.name, balancePolicy as unknown as Policy],
  [consolidatePolicy.name, consolidatePolicy as unknown as Policy],
  [drainPolicy.name, drainPolicy as unknown as Policy],
]);

export const PolicyName = { balance: "balance", consolidate: "consolidate", drain: "drain" } as const;
export type PolicyName = (typeof PolicyName)[keyof typeof PolicyName];

export function policyNames(): string[] {
  return [...registry.keys()];
}

export function getPolicy(name: string): Policy {
  const p = registry.get(name);
  if (p === undefined) throw new UnknownPolicyError(name, policyNames());
  return p;
}

/** Validate and default a policy's arguments (throws PolicyInputError naming the field). */
export function parsePolicyArgs(name: string, args: unknown): unknown {
  const p = getPolicy(name);
  const r = p.args.safeParse(args ?? {});
  if (!r.success) throw PolicyInputError.fromZod(`${name}.args`, r.error);
  return r.data;
}

export const profileSchema = z
  .object({
    name: z.string().min(1),
    /** Policies run in this order; each sees the cluster as the previous ones left it. */
    policies: z.array(z.object({ policy: z.string().min(1), args: z.unknown().optional() }).strict()).min(1),
  })
  .strict();
export type Profile = z.input<typeof profileSchema>;

/** Ready-made profiles: drain always runs first so maintenance requests are served. */
export const builtinProfiles = {
  /** Daytime: serve drains, spread the load. */
  day: { name: "day", policies: [{ policy: "drain" }, { policy: "balance" }] },
  /** Night: serve drains, pack and power off (and wake ahead of demand). */
  night: { name: "night", policies: [{ policy: "drain" }, { policy: "consolidate" }] },
  /** Only serve drains. */
  maintenance: { name: "maintenance", policies: [{ policy: "drain" }] },
} as const satisfies Record<string, Profile>;

export function parseProfile(input: unknown): Profile {
  const r = profileSchema.safeParse(input);
  if (!r.success) throw PolicyInputError.fromZod("profile", r.error);
  for (const [i, e] of r.data.policies.entries()) {
    if (!registry.has(e.policy))
      throw new PolicyInputError(`profile.policies.${i}.policy`, `unknown policy "${e.policy}" (known: ${policyNames().join(", ")})`);
    parsePolicyArgs(e.policy, e.args);
  }
  return r.data;
}

export interface PlanOptions {
  /** The planning time (ms since the epoch); cool-downs and wake deadlines count from it. */
  readonly nowMs: number;
  /** Seed for any randomised choice; plans are deterministic for the same input and seed. */
  readonly seed?: number;
  /** The policy's arguments (validated by its zod schema; `{}` gives the defaults). */
  readonly args?: unknown;
  /** Skip in-flight limits (e.g. a what-if dry run); default false. */
  readonly unlimited?: boolean;
}

/**
 * How many of the newest samples of each history (VM CPU demand and memory, host CPU and memory
 * use) a plan of these policies reads: the forecast window, or more when a policy looks back
 * further. A snapshot whose histories keep only that many newest samples gives the same plan,
 * so a caller that keeps longer histories (the scheduler) need copy no more than these.
 */
export function historySamplesRead(config: ClusterConfigInput | undefined, policies: Profile["policies"]): number {
  let n = parseClusterConfig(config).forecast.windowSamples;
  for (const e of policies) n = Math.max(n, getPolicy(e.policy).historySamples?.(parsePolicyArgs(e.policy, e.args)) ?? 0);
  return n;
}

/** Run one named policy on a snapshot: shorthand for `planProfile` with a profile of that one policy. */
export function plan(snapshot: ClusterSnapshot, policy: string, options: PlanOptions): Plan {
  return planProfile(snapshot, { name: policy, policies: [{ policy, args: options.args }] }, options);
}

/**
 * The one planning entry point (the scheduler's planner and the simulator both call it): run a
 * profile's policies in order, each on the snapshot as the previous left it, merge their steps, and
 * apply the in-flight limits once.
 */
export function planProfile(snapshot: ClusterSnapshot, profileInput: Profile, options: Omit<PlanOptions, "args">): Plan {
  const profile = parseProfile(profileInput);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new PolicyInputError("seed", "must be an integer");
  const nowMs = options.nowMs;
  const ctx = { nowMs, seed };
  let current = snapshot;
  const chained = profile.policies.length > 1;
  /** VMs the earlier policies moved: a later one does not move them again (only kept for a chain). */
  const moved = new Set<string>();
  const steps: PlanStep[] = [];
  const notMoved: NotMoved[] = [];
  const ruleBlocks: RuleBlock[] = [];
  let before: { imbalance: number; active: number } | null = null;
  let after = { imbalance: 0, active: 0 };
  for (const entry of profile.policies) {
    const policy = getPolicy(entry.policy);
    const args = parsePolicyArgs(entry.policy, entry.args);
    const model = buildModel(current, nowMs, moved);
    if (before === null) before = { imbalance: imbalance(model, IMBALANCE_WEIGHTS), active: activeHosts(model) };
    const b = new PlanBuilder(model, policy.name);
    policy.run(model, args, b, ctx);
    after = { imbalance: imbalance(model, IMBALANCE_WEIGHTS), active: activeHosts(model) };
    const offset = steps.length;
    // By index: a for-of made an iterator result per step of 100,000s (this loop is rarely optimised).
    for (let k = 0; k < b.steps.length; k++) {
      const s = b.steps[k] as PlanStep;
      steps.push(offset === 0 ? s : { ...s, index: s.index + offset, dependsOn: s.dependsOn.map((d) => d + offset) });
      if (chained && s.kind === "migrate") moved.add(s.vmId);
    }
    // A loop, not push(...list): a big plan notes more VMs than a call takes arguments.
    for (const n of b.notMovedList()) notMoved.push(n);
    ruleBlocks.push(...b.ruleBlockList());
    if (chained) current = applySteps(current, b.steps, nowMs);
  }
  const merged = chained ? addCrossDependencies(steps) : steps;
  const limited =
    options.unlimited === true
      ? { admitted: merged, deferred: [] }
      : rechecked(snapshot, nowMs, applyLimits(merged, snapshot.inFlight ?? [], buildLimits(snapshot)));
  const totalMigrationCost = limited.admitted.reduce((a, s) => a + (s.kind === "migrate" ? s.prediction.cost : 0), 0);
  return {
    policy: profile.name,
    nowMs,
    seed,
    steps: limited.admitted,
    notMoved: withoutMoved(notMoved, steps),
    ruleBlocks,
    deferred: limited.deferred,
    metrics: {
      imbalanceBefore: before?.imbalance ?? 0,
      imbalanceAfter: after.imbalance,
      activeHostsBefore: before?.active ?? 0,
      activeHostsAfter: after.active,
      totalMigrationCost,
    },
  };
}

/**
 * The notes of VMs no step moves (a later policy may move a VM an earlier one noted). Looks the
 * steps up among the few noted VMs rather than collecting every moved VM (100,000s in a big plan).
 */
function withoutMoved(notMoved: NotMoved[], steps: readonly PlanStep[]): NotMoved[] {
  if (notMoved.length === 0) return notMoved;
  const noted = new Set(notMoved.map((n) => n.vmId));
  const moved = new Set<string>();
  for (const s of steps) if (s.kind === "migrate" && noted.has(s.vmId)) moved.add(s.vmId);
  return moved.size === 0 ? notMoved : notMoved.filter((n) => !moved.has(n.vmId));
}

/**
 * The admitted steps judged again without the moves the limits defer (`recheckAdmitted`), when
 * they deferred a move: a step admitted beside it may have relied on it.
 */
function rechecked(snapshot: ClusterSnapshot, nowMs: number, limited: LimitResult<PlanStep>): LimitResult<PlanStep> {
  if (limited.admitted.length === 0 || !limited.deferred.some((d) => d.step.kind === "migrate")) return limited;
  const again = recheckAdmitted(snapshot, limited.admitted, nowMs);
  if (again.deferred.length === 0) return limited;
  // In plan order, as the limits give theirs (the scheduler stores runs of consecutive deferrals).
  const deferred = [...limited.deferred, ...again.deferred].sort((a, b) => a.step.index - b.step.index);
  return { admitted: again.admitted, deferred };
}

function buildLimits(snapshot: ClusterSnapshot) {
  return parseClusterConfig(snapshot.config).limits;
}

/** A later policy's step into (or power-off of) a host waits for earlier departures from it. */
function addCrossDependencies(steps: PlanStep[]): PlanStep[] {
  const departures = new Map<string, number[]>();
  return steps.map((s) => {
    const host = s.kind === "migrate" ? s.destinationHostId : s.kind === "power-off" ? s.hostId : null;
    const deps = new Set(s.dependsOn);
    if (host !== null) for (const d of departures.get(host) ?? []) deps.add(d);
    if (s.kind === "migrate") {
      const list = departures.get(s.sourceHostId);
      if (list === undefined) departures.set(s.sourceHostId, [s.index]);
      else list.push(s.index);
    }
    return { ...s, dependsOn: [...deps].sort((a, b) => a - b) };
  });
}
