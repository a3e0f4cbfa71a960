// @drover/policy: pure planning. Snapshot in, plan out; no I/O, no clock, no randomness.
//
//   const p = plan(snapshot, "consolidate", { nowMs, seed: 1, args: { band: { low: 0.5, high: 0.9 } } });
//   validatePlan(snapshot, p)          // [] when every safety invariant holds
//   const next = applyPlan(snapshot, p) // the cluster after the moves (pure)
//
// Policies: "balance", "consolidate", "drain" (see each one's args schema); profiles run several
// in order. In-flight limits are applied once, after planning, by `applyLimits` (which the
// scheduler's dispatcher also calls).

export type {
  ClusterSnapshot,
  DemandForecast,
  DeferredStep,
  Host,
  HostPower,
  InFlightMigration,
  MigrateStep,
  MigrationFailure,
  MigrationPrediction,
  NotMoved,
  Plan,
  PlanMetrics,
  PlanStep,
  PowerOffStep,
  Rule,
  RuleBlock,
  Vm,
  VmAffinityRule,
  VmAntiAffinityRule,
  VmHostRule,
  WakeStep,
} from "./types.js";
export { HostState, MigrationStrategy, RuleKind, VmHostMode } from "./types.js";
export { DeferCode, NotMovedCode, PowerOffBlockCode, RejectCode, StepCode } from "./codes.js";
export type { ClusterConfig, ClusterConfigInput, ForecastConfig, InFlightLimits, MigrationModelConfig } from "./config.js";
export { clusterConfigSchema, defaultClusterConfig, parseClusterConfig } from "./config.js";
export { PolicyInputError, UnknownPolicyError } from "./errors.js";
export { defaultSeasonalConfig, forecastSeries, SeasonalForecaster, seasonalPeak } from "./forecast.js";
export type { SeasonalConfig } from "./forecast.js";
export { IMBALANCE_WEIGHTS, measureCluster } from "./metrics.js";
export type { Calibration, MeasuredMigration, MigrationInput } from "./cost-model.js";
export { calibrateMigrationModel, predictAllStrategies, predictMigration } from "./cost-model.js";
export type { LimitMove, LimitOther, LimitResult, LimitStep } from "./limits.js";
export { applyLimits } from "./limits.js";
export { applyPlan, applySteps } from "./apply-plan.js";
export { withUniqueVmIds } from "./model.js";
export type { PowerOffBlocker } from "./power-off.js";
export { powerOffBlockers } from "./power-off.js";
export type { Violation } from "./validate.js";
export { validatePlan, ViolationCode } from "./validate.js";
export type { PlanOptions, Profile } from "./registry.js";
export {
  builtinProfiles,
  getPolicy,
  historySamplesRead,
  parsePolicyArgs,
  parseProfile,
  plan,
  planProfile,
  PolicyName,
  policyNames,
  profileSchema,
} from "./registry.js";
export type { Policy, PolicyContext } from "./policy.js";
export { clusterSnapshotSchema, parseSnapshot } from "./snapshot-schema.js";
export { balanceArgs } from "./policies/balance.js";
export { consolidateArgs } from "./policies/consolidate.js";
export { drainArgs } from "./policies/drain.js";
