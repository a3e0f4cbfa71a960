// Policy names the simulator, the CLI and the bench accept.
import { FirstFitPolicy, PabfdPolicy } from "./baselines.js";
import type { SimPolicy } from "./baselines.js";
import { DroverPolicy } from "./drover.js";
import type { DroverPolicyOptions } from "./drover.js";
import { SimError, SimErrorCode } from "./errors.js";
import type { DetectorKind } from "./detectors.js";

const baselinePattern = /^(thr|iqr|mad|lr|lrr)-mmt-(\d+(?:\.\d+)?)$/;

/** Named policies: npa, dvfs, <thr|iqr|mad|lr|lrr>-mmt-<parameter>, drover. */
export const simPolicyNames = [
  "npa",
  "dvfs",
  "thr-mmt-0.8",
  "thr-mmt-1.0",
  "iqr-mmt-1.5",
  "mad-mmt-2.5",
  "lr-mmt-1.2",
  "lrr-mmt-1.2",
  "drover",
] as const;

export function createPolicy(name: string, drover: DroverPolicyOptions = {}): SimPolicy {
  if (name === "npa") return new FirstFitPolicy("npa", "non-power-aware");
  if (name === "dvfs") return new FirstFitPolicy("dvfs");
  if (name === "drover") return new DroverPolicy(drover);
  const m = baselinePattern.exec(name);
  if (m) {
    const parameter = Number(m[2]);
    return new PabfdPolicy({ detector: { kind: m[1] as DetectorKind, parameter }, name });
  }
  throw new SimError(
    SimErrorCode.unknownPolicy,
    `unknown policy "${name}" (known: ${simPolicyNames.join(", ")}, or <thr|iqr|mad|lr|lrr>-mmt-<parameter>)`,
  );
}
