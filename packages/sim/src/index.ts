// @drover/sim: trace-driven simulator of a KVM cluster under Drover's policies and the
// CloudSim 3.0 reference baselines (PlanetLab benchmark).
export { SimError, SimErrorCode } from "./errors.js";
export {
  hpMl110G4,
  hpMl110G5,
  powerAt,
  migrationSeconds,
  referenceHostTypes,
  referenceVmTypes,
  referenceVmTypeIndex,
  wattsPerMipsAtFull,
} from "./power.js";
export type { HostType, PowerModel, VmType } from "./power.js";
export {
  byteOrder,
  drawWorkload,
  fromSeries,
  loadCsv,
  loadPlanetLabDay,
  loadPlanetLabDir,
  loadTraces,
  mulberry32,
  packSeries,
  planetLabDays,
  readPlanetLabDir,
  unpackSeries,
  workloadSize,
} from "./traces.js";
export type { PercentSeries, PlanetLabDay, Workload } from "./traces.js";
export {
  DetectorKind,
  fallbackThreshold,
  iqr,
  isOverloaded,
  lrFit,
  lrPredict,
  lrPredictionCoefficients,
  lrrPredict,
  mad,
  median,
  tricubeWeights,
  trimZeroTail,
  wlsFit,
} from "./detectors.js";
export type { DetectorSpec, LrWeighting } from "./detectors.js";
export { Mode, modes, quirksFor, enforcesRam } from "./quirks.js";
export type { Quirks } from "./quirks.js";
export { Datacenter, historyLength } from "./engine.js";
export type { DatacenterSpec } from "./engine.js";
export { FirstFitPolicy, PabfdPolicy, firstFitPlace } from "./baselines.js";
export type { MigrationOrder, RoundPlan, SimPolicy } from "./baselines.js";
export { simulate, buildDatacenter } from "./simulate.js";
export { createPolicy, simPolicyNames } from "./registry.js";
export { DroverPolicy, benchmarkConfig, benchmarkProfile } from "./drover.js";
export type { DroverPolicyOptions } from "./drover.js";
export { ffdOracle, fluidBound } from "./bounds.js";
export { ASSUMED_WATTS, fromHistory } from "./history.js";
export type { HistoryReplay } from "./history.js";
export { boundRow, outcomeColumns, resultRow, rowCells } from "./report.js";
export type { OutcomeRow } from "./report.js";
export { dominates, dominatorsOf, paretoFrontier } from "./pareto.js";
export type { Costs } from "./pareto.js";
export type { BoundOptions, BoundResult } from "./bounds.js";
export type { SimulationOptions, SimulationResult } from "./simulate.js";
