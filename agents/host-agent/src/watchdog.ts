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

/** A new low must beat the old one by this share, so that noise around a plateau is no progress. */
const PROGRESS_MARGIN = 0.02;

/**
 * Decides when a live migration has stopped converging and which rung of the ladder comes next.
 * Stalled = no new low of the remaining memory for `stallIterations` iterations or `stallMs`. After
 * each rung the window restarts, so every rung gets a fair chance before the next.
 */
export class ConvergenceWatchdog {
  private next = 0;
  private bestRemaining = Infinity;
  private bestIteration = 0;
  private bestAtMs: number;

  constructor(
    private readonly opts: WatchdogOptions,
    startMs: number,
  ) {
    this.bestAtMs = startMs;
  }

  get exhausted(): boolean {
    return this.next >= this.opts.ladder.length;
  }

  get applied(): number {
    return this.next;
  }

  /** Returns the rung to apply now, or null. */
  observe(s: JobSample, nowMs: number): EscalationStep | null {
    if (s.remainingBytes < this.bestRemaining * (1 - PROGRESS_MARGIN) || this.bestRemaining === Infinity) {
      this.bestRemaining = s.remainingBytes;
      this.bestIteration = s.iteration;
      this.bestAtMs = nowMs;
      return null;
    }
    const stalled = s.iteration - this.bestIteration >= this.opts.stallIterations || nowMs - this.bestAtMs >= this.opts.stallMs;
    if (!stalled || this.exhausted) return null;
    const step = this.opts.ladder[this.next++] as EscalationStep;
    // Fresh window: the rung is judged on what happens after it.
    this.bestRemaining = s.remainingBytes;
    this.bestIteration = s.iteration;
    this.bestAtMs = nowMs;
    return step;
  }
}

export function stepLabel(s: EscalationStep): string {
  return s.action === "raise-downtime" ? `raise-downtime:${s.toMs}` : s.action;
}
