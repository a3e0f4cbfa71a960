// Migration predictions outside a plan (operator moves, moves that share a link): the policy's cost
// model with the same cluster config the planner gets, so every move carries comparable figures.
import {
  calibrateMigrationModel,
  parseClusterConfig,
  predictMigration,
  type Calibration,
  type ClusterConfig,
  type ClusterConfigInput,
  type MeasuredMigration,
  type MigrationPrediction,
} from "@drover/policy";
import type { VmReport } from "@drover/protocol";
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
  /** Recent clean live migrations (alone on their link, completed live), newest last. */
  private readonly samples: MeasuredMigration[] = [];
  private fitted: LearnedModel | undefined;

  constructor(private readonly config: SchedulerConfig) {}

  private cluster(): ClusterConfig {
    this.parsed ??= parseClusterConfig(plannerClusterConfig(this.config, this.fitted));
    return this.parsed;
  }

  /** The constants learned so far (undefined until enough migrations were measured). */
  get learned(): LearnedModel | undefined {
    return this.fitted;
  }

  /**
   * Learns from a measured migration of `vm` that ran alone on its link and completed live: the
   * configured constants are a guess, this cluster's own migrations are the truth (the lab's TCG
   * guests on a loaded machine migrate 3x slower than on a quiet one).
   */
  learn(vm: VmReport, measured: { durationMs: number; downtimeMs: number | null }): void {
    const cal = this.config.migration.calibration;
    if (!cal.enabled || measured.downtimeMs === null) return;
    this.samples.push({ ...this.input(vm, 1), durationMs: measured.durationMs, downtimeMs: measured.downtimeMs });
    if (this.samples.length > cal.samples) this.samples.shift();
    if (this.samples.length < cal.minSamples) return;
    try {
      const base = parseClusterConfig(plannerClusterConfig(this.config)).migration;
      const c = calibrateMigrationModel(this.samples, base, { fitEfficiency: this.samples.length >= cal.slopeSamples });
      this.fitted = { bandwidthEfficiency: c.bandwidthEfficiency, setupOverheadMs: c.setupOverheadMs, switchoverMs: c.switchoverMs };
      this.parsed = undefined;
    } catch {
      // No efficiency explains the samples (e.g. every one stalled): keep the previous constants.
    }
  }

  private input(vm: VmReport, sharing: number) {
    const cfg = this.cluster().migration;
    let bw = cfg.defaultBandwidthBytesPerSec / Math.max(1, sharing);
    if (this.config.migration.bandwidthMiBs) bw = Math.min(bw, this.config.migration.bandwidthMiBs * MIB);
    return {
      memoryMiB: vm.memoryMiB,
      dirtyRateBytesPerSec: vm.dirtyRateMiBs !== null ? vm.dirtyRateMiBs * MIB : cfg.defaultDirtyRateBytesPerSec,
      bandwidthBytesPerSec: bw,
    };
  }

  /**
   * Predicts one move of `vm`; `sharing` concurrent moves (this one included) on the same link
   * divide its bandwidth. Null when the model says no strategy completes.
   */
  predict(vm: VmReport, sharing = 1): MigrationPrediction | null {
    return predictMigration(
      { ...this.input(vm, sharing), allowPostCopy: this.config.migration.allowPostCopy && vm.tags.includes("drover:post-copy") },
      this.cluster().migration,
    );
  }
}
