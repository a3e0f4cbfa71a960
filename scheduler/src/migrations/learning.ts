// Cost-model learning: the configured constants are a guess, this cluster's own migrations are the
// truth (the lab's TCG guests on a loaded machine migrate 3x slower than on a quiet one). Clean
// measurements are kept in a window, fitted, and handed to the predictor.
import { calibrateMigrationModel, parseClusterConfig, type MeasuredMigration } from "@drover/policy";
import type { Logger, MigrationResult, VmReport } from "@drover/protocol";
import type { MigrationRow } from "@drover/store";
import type { SchedulerConfig } from "../config.js";
import { plannerClusterConfig, type MovePredictor } from "../prediction.js";

export interface LearningDeps {
  config: SchedulerConfig;
  predictor: MovePredictor;
  log: Logger;
}

export class CostModelLearning {
  /** Recent clean live migrations (alone on their link, completed live), newest last. */
  private readonly samples: MeasuredMigration[] = [];

  constructor(private readonly d: LearningDeps) {}

  /**
   * Learns from a finished move when it measures the model cleanly: it succeeded, completed live
   * (no escalation), ran alone on its hosts and reported its downtime. `vm` is the VM as last
   * reported (its memory and dirty rate are the model's input).
   */
  observe(row: MigrationRow, result: MigrationResult, vm: VmReport | undefined): void {
    // Any completed move measures its link, shared or not (sharing is accounted for).
    if (result.outcome === "succeeded")
      this.d.predictor.learnLink({ ...row, bytesMoved: result.bytesMoved, durationMs: result.durationMs, downtimeMs: result.downtimeMs });
    if (result.outcome !== "succeeded" || result.completedBy !== "live" || row.concurrent !== 1 || !vm) return;
    const { config, predictor, log } = this.d;
    const cal = config.migration.calibration;
    if (!cal.enabled || result.downtimeMs === null) return;
    // On the link's learned bandwidth, as this pair's predictions are made: the constants fit what remains.
    const pair = { source: row.source, destination: row.destination };
    this.samples.push({ ...predictor.inputOf(vm, 1, pair), durationMs: result.durationMs, downtimeMs: result.downtimeMs });
    if (this.samples.length > cal.samples) this.samples.shift();
    if (this.samples.length >= cal.minSamples) this.fit();
    log.info(
      { migration: row.id, measuredMs: result.durationMs, learned: predictor.learned ?? null },
      "cost model learned from a measured migration",
    );
  }

  private fit(): void {
    const cal = this.d.config.migration.calibration;
    try {
      const base = parseClusterConfig(plannerClusterConfig(this.d.config)).migration;
      const c = calibrateMigrationModel(this.samples, base, { fitEfficiency: this.samples.length >= cal.slopeSamples });
      this.d.predictor.useLearned({
        bandwidthEfficiency: c.bandwidthEfficiency,
        setupOverheadMs: c.setupOverheadMs,
        switchoverMs: c.switchoverMs,
      });
    } catch {
      // No efficiency explains the samples (e.g. every one stalled): keep the previous constants.
    }
  }
}
