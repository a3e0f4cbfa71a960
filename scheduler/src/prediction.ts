// Migration predictions outside a plan (operator moves, moves that share a link): the policy's cost
// model with the same cluster config the planner gets, so every move carries comparable figures.
// The constants learned from measured moves (migrations/learning.ts) replace the configured ones.
import {
  parseClusterConfig,
  predictMigration,
  type Calibration,
  type ClusterConfig,
  type ClusterConfigInput,
  type MigrationPrediction,
} from "@drover/policy";
import { localDiskBytes, type Logger, type VmReport } from "@drover/protocol";
import type { SchedulerConfig } from "./config.js";

const MIB = 1_048_576;

/** Cost-model constants fitted to this cluster's own measured migrations. */
export type LearnedModel = Pick<Calibration, "bandwidthEfficiency" | "setupOverheadMs" | "switchoverMs">;

/**
 * The cluster config handed to the policy (snapshot.config); also the cost model's input. `learned`
 * constants, when there are any, replace the configured ones.
 */
export function plannerClusterConfig(config: SchedulerConfig, learned?: LearnedModel): ClusterConfigInput {
  return {
    ...config.planner,
    sampleIntervalMs: config.reports.intervalMs,
    limits: config.limits,
    cooldown: config.cooldowns,
    spare: config.spare,
    migration: {
      ...config.planner.migration,
      ...(learned ?? {}),
      maxDowntimeMs: config.migration.maxDowntimeMs,
      allowPostCopy: config.migration.allowPostCopy,
    },
  };
}

export class MovePredictor {
  private parsed: ClusterConfig | undefined;
  private model: LearnedModel | undefined;

  constructor(private readonly config: SchedulerConfig) {}

  private cluster(): ClusterConfig {
    this.parsed ??= parseClusterConfig(plannerClusterConfig(this.config, this.model));
    return this.parsed;
  }

  /** The learned constants predictions use (undefined: the configured ones). */
  get learned(): LearnedModel | undefined {
    return this.model;
  }

  /** Predicts with these constants from now on (cost-model learning hands them over). */
  useLearned(learned: LearnedModel): void {
    this.model = learned;
    this.parsed = undefined;
  }

  /** What the cost model takes of `vm` when `sharing` moves share its link (their bandwidth is divided). */
  inputOf(
    vm: VmReport,
    sharing: number,
  ): { memoryMiB: number; dirtyRateBytesPerSec: number; bandwidthBytesPerSec: number; diskBytes: number } {
    const cfg = this.cluster().migration;
    let bw = cfg.defaultBandwidthBytesPerSec / Math.max(1, sharing);
    if (this.config.migration.bandwidthMiBs) bw = Math.min(bw, this.config.migration.bandwidthMiBs * MIB);
    return {
      memoryMiB: vm.memoryMiB,
      dirtyRateBytesPerSec: vm.dirtyRateMiBs !== null ? vm.dirtyRateMiBs * MIB : cfg.defaultDirtyRateBytesPerSec,
      bandwidthBytesPerSec: bw,
      diskBytes: localDiskBytes(vm.disks),
    };
  }

  /**
   * Predicts one move of `vm`; `sharing` concurrent moves (this one included) on the same link
   * divide its bandwidth. Null when the model says no strategy completes.
   */
  predict(vm: VmReport, sharing = 1): MigrationPrediction | null {
    return predictMigration(
      { ...this.inputOf(vm, sharing), allowPostCopy: this.config.migration.allowPostCopy && vm.tags.includes("drover:post-copy") },
      this.cluster().migration,
    );
  }

  /** predict(), but a planner config the cost model rejects means a move without figures (logged), not an error. */
  tryPredict(vm: VmReport, sharing: number, log: Logger): MigrationPrediction | null {
    try {
      return this.predict(vm, sharing);
    } catch (e) {
      log.warn({ vm: vm.name, err: (e as Error).message }, "no prediction (planner config rejected by the cost model)");
      return null;
    }
  }
}
