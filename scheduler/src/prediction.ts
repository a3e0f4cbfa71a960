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
import { mayPostCopy } from "./rules/merge.js";

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

/** A finished move as the store or its result gives it: what the link carried, in how long, shared by how many. */
export interface LinkSample {
  source: string;
  destination: string;
  bytesMoved: number | null;
  durationMs: number | null;
  concurrent: number;
}

/**
 * Each host pair's effective migration bandwidth, learned from its completed migrations: the bytes
 * a move carried over its duration, times the moves that shared the link with it (they divided it).
 * The median of the pair's last `window` moves, in either direction (a link carries both ways).
 */
export class LinkBandwidth {
  private readonly pairs = new Map<string, number[]>();

  constructor(private readonly window = 20) {}

  private static key(a: string, b: string): string {
    return a < b ? `${a} ${b}` : `${b} ${a}`;
  }

  /** Learns from a move; returns the bytes/s it measured, or null when it measured nothing (no bytes or no time). */
  observe(m: LinkSample): number | null {
    if (!m.bytesMoved || !m.durationMs || m.bytesMoved <= 0 || m.durationMs <= 0) return null;
    const bps = (m.bytesMoved / (m.durationMs / 1000)) * Math.max(1, m.concurrent);
    const k = LinkBandwidth.key(m.source, m.destination);
    const xs = this.pairs.get(k) ?? [];
    xs.push(bps);
    if (xs.length > this.window) xs.shift();
    this.pairs.set(k, xs);
    return bps;
  }

  /** The learned bytes/s between `a` and `b`, undefined before any move between them measured it. */
  of(a: string, b: string): number | undefined {
    const xs = this.pairs.get(LinkBandwidth.key(a, b));
    return xs?.length ? median(xs) : undefined;
  }

  /** The median of the learned links touching `host` (the planner's model has one bandwidth per host). */
  ofHost(host: string): number | undefined {
    const links: number[] = [];
    for (const [k, xs] of this.pairs) if (xs.length && k.split(" ").includes(host)) links.push(median(xs));
    return links.length ? median(links) : undefined;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export class MovePredictor {
  private parsed: ClusterConfig | undefined;
  private model: LearnedModel | undefined;
  /** Learned per host pair; the configured link speed where a pair has none yet. */
  readonly links: LinkBandwidth;

  constructor(private readonly config: SchedulerConfig) {
    this.links = new LinkBandwidth(config.migration.calibration.samples);
  }

  private cluster(): ClusterConfig {
    this.parsed ??= parseClusterConfig(plannerClusterConfig(this.config, this.model));
    return this.parsed;
  }

  /** The learned constants predictions use (undefined: the configured ones). */
  get learned(): LearnedModel | undefined {
    return this.model;
  }

  /**
   * Learns a completed move's link bandwidth over the time it spent transferring: its duration less
   * its downtime and the model's setup overhead (at least a quarter of it), so that the model, which
   * adds both back, predicts the move it measured.
   */
  learnLink(m: LinkSample & { downtimeMs: number | null }): number | null {
    if (!m.durationMs) return null;
    const transferMs = Math.max(m.durationMs / 4, m.durationMs - (m.downtimeMs ?? 0) - this.cluster().migration.setupOverheadMs);
    return this.links.observe({ ...m, durationMs: transferMs });
  }

  /** The host's learned link bandwidth as the cost model takes it (nominal: divided by the efficiency it applies), if any. */
  hostBandwidth(host: string): number | undefined {
    const b = this.links.ofHost(host);
    return b === undefined ? undefined : b / this.cluster().migration.bandwidthEfficiency;
  }

  /** Predicts with these constants from now on (cost-model learning hands them over). */
  useLearned(learned: LearnedModel): void {
    this.model = learned;
    this.parsed = undefined;
  }

  /**
   * What the cost model takes of `vm` when `sharing` moves share its link (their bandwidth is
   * divided). With `pair`, a bandwidth learned for that link replaces the configured one: it is
   * already effective, so it is handed over divided by the efficiency the model multiplies it by.
   */
  inputOf(
    vm: VmReport,
    sharing: number,
    pair?: { source: string; destination: string },
  ): { memoryMiB: number; dirtyRateBytesPerSec: number; bandwidthBytesPerSec: number; diskBytes: number } {
    const cfg = this.cluster().migration;
    const learned = pair ? this.links.of(pair.source, pair.destination) : undefined;
    const link = learned !== undefined ? learned / cfg.bandwidthEfficiency : cfg.defaultBandwidthBytesPerSec;
    let bw = link / Math.max(1, sharing);
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
  predict(vm: VmReport, sharing = 1, pair?: { source: string; destination: string }): MigrationPrediction | null {
    return predictMigration(
      { ...this.inputOf(vm, sharing, pair), allowPostCopy: mayPostCopy(this.config.migration, vm) },
      this.cluster().migration,
    );
  }

  /** predict(), but a planner config the cost model rejects means a move without figures (logged), not an error. */
  tryPredict(vm: VmReport, sharing: number, log: Logger, pair?: { source: string; destination: string }): MigrationPrediction | null {
    try {
      return this.predict(vm, sharing, pair);
    } catch (e) {
      log.warn({ vm: vm.name, err: (e as Error).message }, "no prediction (planner config rejected by the cost model)");
      return null;
    }
  }
}
