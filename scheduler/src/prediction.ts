// Migration predictions outside a plan (operator moves, moves that share a link): the policy's cost
// model with the same cluster config the planner gets, so every move carries comparable figures.
import { parseClusterConfig, predictMigration, type ClusterConfig, type ClusterConfigInput, type MigrationPrediction } from "@drover/policy";
import type { VmReport } from "@drover/protocol";
import type { SchedulerConfig } from "./config.js";

const MIB = 1_048_576;

/** The cluster config handed to the policy (snapshot.config); also the cost model's input. */
export function plannerClusterConfig(config: SchedulerConfig): ClusterConfigInput {
  return {
    ...(config.planner as object),
    sampleIntervalMs: config.reports.intervalMs,
    limits: config.limits,
    cooldown: config.cooldowns,
    spare: config.spare,
    migration: { ...((config.planner as { migration?: object }).migration ?? {}), maxDowntimeMs: config.migration.maxDowntimeMs, allowPostCopy: config.migration.allowPostCopy },
  } as ClusterConfigInput;
}

export class MovePredictor {
  private parsed: ClusterConfig | undefined;

  constructor(private readonly config: SchedulerConfig) {}

  private cluster(): ClusterConfig {
    this.parsed ??= parseClusterConfig(plannerClusterConfig(this.config));
    return this.parsed;
  }

  /**
   * Predicts one move of `vm`; `sharing` concurrent moves (this one included) on the same link
   * divide its bandwidth. Null when the model says no strategy completes.
   */
  predict(vm: VmReport, sharing = 1): MigrationPrediction | null {
    const cfg = this.cluster().migration;
    let bw = cfg.defaultBandwidthBytesPerSec / Math.max(1, sharing);
    if (this.config.migration.bandwidthMiBs) bw = Math.min(bw, this.config.migration.bandwidthMiBs * MIB);
    return predictMigration(
      {
        memoryMiB: vm.memoryMiB,
        dirtyRateBytesPerSec: vm.dirtyRateMiBs !== null ? vm.dirtyRateMiBs * MIB : cfg.defaultDirtyRateBytesPerSec,
        bandwidthBytesPerSec: bw,
        allowPostCopy: this.config.migration.allowPostCopy && vm.tags.includes("drover:post-copy"),
      },
      cfg,
    );
  }
}
