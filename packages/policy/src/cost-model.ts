// Migration cost model. Pre-copy: iteration 0 sends all memory; iteration i sends the pages
// dirtied while iteration i-1 was sent (a geometric series with ratio dirtyRate/bandwidth, capped
// at the memory size); it converges when what is left fits the allowed downtime. A fixed setup
// overhead and a fixed switchover time are added; both, and the achieved share of the nominal
// bandwidth, are calibration constants in the config (see `calibrateMigrationModel`).

import type { MigrationModelConfig } from "./config.js";
import type { MigrationPrediction, MigrationStrategy } from "./types.js";

const MIB = 1_048_576;

export interface MigrationInput {
  readonly memoryMiB: number;
  readonly dirtyRateBytesPerSec: number;
  /** Nominal bandwidth of the path (the smaller of the two hosts'). */
  readonly bandwidthBytesPerSec: number;
  /** The VM allows post-copy (the config must allow it too). */
  readonly allowPostCopy?: boolean;
  /**
   * Bytes of the VM's disks not on shared storage: a move copies them (copy-storage) before the
   * memory, at the same bandwidth, so they add to the duration, and for pause-and-copy (the guest
   * paused throughout) to the downtime too.
   */
  readonly diskBytes?: number;
}

interface PreCopy {
  converges: boolean;
  iterations: number;
  bytesSent: number;
  transferMs: number;
  remainingBytes: number;
}

/** Simulate pre-copy iterations; `throttle` gives the CPU throttle in force at iteration i. */
function preCopy(memBytes: number, dirty: number, bw: number, cfg: MigrationModelConfig, throttle: (i: number) => number): PreCopy {
  const allowed = (cfg.maxDowntimeMs / 1000) * bw;
  let toSend = memBytes;
  let bytesSent = 0;
  let seconds = 0;
  let i = 0;
  // At least one full pass runs live; after it, stop as soon as the rest fits the downtime.
  for (; i < cfg.maxIterations; i++) {
    const t = toSend / bw;
    seconds += t;
    bytesSent += toSend;
    toSend = Math.min(memBytes, dirty * (1 - throttle(i)) * t);
    if (toSend <= allowed) {
      return {
        converges: seconds * 1000 <= cfg.maxDurationMs,
        iterations: i + 1,
        bytesSent,
        transferMs: seconds * 1000,
        remainingBytes: toSend,
      };
    }
    if (seconds * 1000 > cfg.maxDurationMs) break;
  }
  return { converges: false, iterations: i, bytesSent, transferMs: seconds * 1000, remainingBytes: toSend };
}

function make(
  strategy: MigrationStrategy,
  cfg: MigrationModelConfig,
  weight: number,
  transferMs: number,
  downtimeMs: number,
  preCopyConverges: boolean,
  iterations: number,
  bytesSent: number,
): MigrationPrediction {
  const durationMs = cfg.setupOverheadMs + transferMs + downtimeMs;
  const cost = (durationMs / 1000) * weight + (downtimeMs / 1000) * cfg.downtimeWeight;
  return { strategy, durationMs, downtimeMs, preCopyConverges, iterations, bytesSent, cost };
}

/**
 * Predict a migration for each strategy the config (and the VM) allows and return the cheapest
 * one that completes, or null when none can (the VM cannot be moved).
 */
export function predictMigration(input: MigrationInput, cfg: MigrationModelConfig): MigrationPrediction | null {
  const all = predictAllStrategies(input, cfg);
  let best: MigrationPrediction | null = null;
  for (const p of all) if (best === null || p.cost < best.cost) best = p;
  return best;
}

/** Every feasible strategy's prediction (live first). */
export function predictAllStrategies(input: MigrationInput, cfg: MigrationModelConfig): MigrationPrediction[] {
  const mem = Math.max(0, input.memoryMiB) * MIB;
  const bw = Math.max(1, input.bandwidthBytesPerSec * cfg.bandwidthEfficiency);
  const dirty = Math.max(0, input.dirtyRateBytesPerSec);
  const disk = Math.max(0, input.diskBytes ?? 0);
  const diskMs = (disk / bw) * 1000;
  const out: MigrationPrediction[] = [];
  // The disk copy runs before the memory moves, the guest running (pause-and-copy: paused): its
  // time is added to every strategy's transfer, and to pause-and-copy's downtime.
  const live = preCopy(mem, dirty, bw, cfg, () => 0);
  if (live.converges) {
    const down = cfg.switchoverMs + (live.remainingBytes / bw) * 1000;
    out.push(make("live", cfg, 1, diskMs + live.transferMs, down, true, live.iterations, disk + live.bytesSent + live.remainingBytes));
    // Nothing below can be cheaper than a converging live migration.
    return out;
  }
  if (cfg.allowAutoConverge) {
    // QEMU's auto-converge: throttle 20% from the third iteration, +10% per iteration, capped.
    const ac = preCopy(mem, dirty, bw, cfg, (i) => (i < 2 ? 0 : Math.min(cfg.autoConvergeMaxThrottle, 0.2 + 0.1 * (i - 2))));
    if (ac.converges) {
      const down = cfg.switchoverMs + (ac.remainingBytes / bw) * 1000;
      out.push(
        make(
          "live-auto-converge",
          cfg,
          cfg.autoConvergeWeight,
          diskMs + ac.transferMs,
          down,
          false,
          ac.iterations,
          disk + ac.bytesSent + ac.remainingBytes,
        ),
      );
    }
  }
  if (cfg.allowPostCopy && input.allowPostCopy === true) {
    // One live pass, then the guest runs on the destination and pulls the dirtied pages.
    const first = mem / bw;
    const rest = Math.min(mem, dirty * first) / bw;
    out.push(
      make(
        "post-copy",
        cfg,
        cfg.postCopyWeight,
        diskMs + (first + rest) * 1000,
        cfg.switchoverMs,
        false,
        1,
        disk + mem + Math.min(mem, dirty * first),
      ),
    );
  }
  if (cfg.allowPauseAndCopy) {
    const t = (mem / bw) * 1000;
    out.push(make("pause-and-copy", cfg, cfg.pauseAndCopyWeight, 0, cfg.switchoverMs + diskMs + t, false, 0, disk + mem));
  }
  return out;
}

export interface MeasuredMigration {
  readonly memoryMiB: number;
  readonly dirtyRateBytesPerSec: number;
  readonly bandwidthBytesPerSec: number;
  readonly diskBytes?: number;
  readonly durationMs: number;
  readonly downtimeMs: number;
}

export interface Calibration {
  readonly bandwidthEfficiency: number;
  readonly setupOverheadMs: number;
  readonly switchoverMs: number;
  /** Root mean square error of the duration after calibration. */
  readonly durationRmsErrorMs: number;
}

/**
 * Fit the calibration constants to measured live migrations: for each bandwidth efficiency on a
 * grid, the best setup overhead is the mean residual; keep the efficiency with the least squared
 * error. The switchover time is the mean downtime residual.
 */
export function calibrateMigrationModel(
  samples: readonly MeasuredMigration[],
  base: MigrationModelConfig,
  opts: { fitEfficiency?: boolean } = {},
): Calibration {
  if (samples.length === 0) throw new RangeError("calibrateMigrationModel: no samples");
  let best: Calibration | null = null;
  // With few samples the slope (efficiency) is ill-posed: two migrations that differ by their
  // dirty rate more than by their size would be read as a slow link. Keep the configured
  // efficiency then and fit only the offsets.
  const grid = opts.fitEfficiency === false ? [base.bandwidthEfficiency] : Array.from({ length: 99 }, (_, i) => 0.02 + i * 0.01);
  for (const e of grid) {
    const cfg = {
      ...base,
      bandwidthEfficiency: e,
      setupOverheadMs: 0,
      switchoverMs: 0,
      allowAutoConverge: false,
      allowPostCopy: false,
      allowPauseAndCopy: false,
      maxDurationMs: Number.MAX_SAFE_INTEGER,
    };
    const preds = samples.map((s) => predictMigration(s, cfg));
    if (preds.some((p) => p === null)) continue;
    // Offsets: the mean is the least-squares fit; with the slope held fixed (few samples) the
    // median instead, so one odd migration (a CPU-starved busy guest) does not shift every
    // prediction.
    const centre = opts.fitEfficiency === false ? median : mean;
    const downResid = samples.map((s, i) => s.downtimeMs - (preds[i]?.downtimeMs ?? 0));
    const switchover = Math.max(0, centre(downResid));
    // The measured duration includes the switchover, which is not part of the setup overhead.
    const resid = samples.map((s, i) => s.durationMs - (preds[i]?.durationMs ?? 0) - switchover);
    const setup = Math.max(0, centre(resid));
    const rms = Math.sqrt(resid.reduce((a, r) => a + (r - setup) ** 2, 0) / resid.length);
    if (best === null || rms < best.durationRmsErrorMs - 1e-9) {
      best = { bandwidthEfficiency: Math.round(e * 100) / 100, setupOverheadMs: setup, switchoverMs: switchover, durationRmsErrorMs: rms };
    }
  }
  if (best === null) throw new RangeError("calibrateMigrationModel: no sample converges under any efficiency");
  return best;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
