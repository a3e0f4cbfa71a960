// Waiting without vitest's runner (benches and scripts run outside it; tests use vi.waitFor).
import { setTimeout as sleep } from "node:timers/promises";

/** A move in one of these states has ended (ApiMigrationStates: the rest are under way). */
export const MIGRATION_ENDED: ReadonlySet<string> = new Set(["succeeded", "failed", "aborted", "timed-out", "cancelled"]);

/** Polls `probe` every second until it returns a value; a probe that throws counts as not yet. */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}
