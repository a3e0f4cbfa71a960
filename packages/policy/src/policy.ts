import type { z } from "zod";
import type { ClusterModel } from "./model.js";
import type { PlanBuilder } from "./plan-builder.js";

/** What a policy gets besides the model: time and a seed (policies are pure). */
export interface PolicyContext {
  readonly nowMs: number;
  readonly seed: number;
}

/**
 * A named planning policy. It reads and tentatively updates the model, and records steps and
 * explanations in the builder. It never applies in-flight limits (the runner does, once).
 */
export interface Policy<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  /** Arguments schema, with defaults (`{}` must parse). */
  readonly args: S;
  /**
   * How many of the newest samples of a history the policy reads itself, when it looks back over
   * more than the forecast window (which the model reads for every policy).
   */
  historySamples?(args: z.output<S>): number;
  run(model: ClusterModel, args: z.output<S>, builder: PlanBuilder, ctx: PolicyContext): void;
}
