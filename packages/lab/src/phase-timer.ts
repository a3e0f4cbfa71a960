import type { Logger } from "@drover/protocol";

/**
 * Logs (debug) how long each phase since the last call took, so a slow lab start or stop shows
 * where its time goes (tests: DROVER_LAB_LOG=debug, see test/src/helpers/drover-lab.ts).
 */
export function phaseTimer(log: Logger | undefined, what: string): (phase: string) => void {
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    log?.debug({ phase, ms: Math.round(now - last) }, `${what}: ${phase}`);
    last = now;
  };
}
