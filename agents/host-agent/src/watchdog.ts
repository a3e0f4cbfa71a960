import type { EscalationStep } from "@drover/protocol";

export interface JobSample {
  /** Memory iteration (libvirt memory_iteration / QEMU dirty-sync-count). */
  iteration: number;
  remainingBytes: number;
}

export interface WatchdogOptions {
  ladder: readonly EscalationStep[];
  stallIterations: number;
  stallMs: number;
}

/**
 * An iteration counts as progress when it starts with at least this much less left than the best
 * earlier one. A migration whose dirty set shrinks by less than this per pass will not finish in
 * useful time even if it eventually might.
 */
const ITERATION_MARGIN = 0.1;
/** Within one pass, remaining memory must fall by this share to count as moving. */
const PASS_MARGIN = 0.01;

/**
 * Decides when a live migration has stopped converging and which rung of the ladder comes next.
 * Two signals: across passes, the memory left at the start of a pass has not shrunk for
 * `stallIterations` passes (the guest dirties as fast as the link copies); within a pass, nothing
 * moved for `stallMs` (the transfer is stuck). After each rung the baseline restarts, so every
 * rung is judged on what happens after it.
 */
export class ConvergenceWatchdog {
  private next = 0;
  private iteration = -1;
  private bestStart = Infinity;
  private passesWithoutProgress = 0;
  private passLow = Infinity;
  private passLowAtMs: number;

  constructor(
    private readonly opts: WatchdogOptions,
    startMs: number,
  ) {
    this.passLowAtMs = startMs;
  }

  get exhausted(): boolean {
    return this.next >= this.opts.ladder.length;
  }

  get applied(): number {
    return this.next;
  }

  /** Returns the rung to apply now, or null. Samples from before the job has data are ignored. */
  observe(s: JobSample, nowMs: number): EscalationStep | null {
    if (s.remainingBytes <= 0 && s.iteration === 0) return null;
    let stalled = false;
    if (s.iteration !== this.iteration) {
      this.iteration = s.iteration;
      this.passLow = s.remainingBytes;
      this.passLowAtMs = nowMs;
      if (s.remainingBytes < this.bestStart * (1 - ITERATION_MARGIN)) {
        this.bestStart = s.remainingBytes;
        this.passesWithoutProgress = 0;
      } else if (this.bestStart !== Infinity) {
        stalled = ++this.passesWithoutProgress >= this.opts.stallIterations;
      } else {
        this.bestStart = s.remainingBytes;
      }
    } else if (s.remainingBytes < this.passLow * (1 - PASS_MARGIN)) {
      this.passLow = s.remainingBytes;
      this.passLowAtMs = nowMs;
    } else if (nowMs - this.passLowAtMs >= this.opts.stallMs) {
      stalled = true;
    }
    if (!stalled || this.exhausted) return null;
    const step = this.opts.ladder[this.next++] as EscalationStep;
    // Fresh baseline: the rung is judged on the passes that follow it.
    this.bestStart = s.remainingBytes;
    this.passesWithoutProgress = 0;
    this.passLow = s.remainingBytes;
    this.passLowAtMs = nowMs;
    return step;
  }
}

export function stepLabel(s: EscalationStep): string {
  return s.action === "raise-downtime" ? `raise-downtime:${s.toMs}` : s.action;
}
