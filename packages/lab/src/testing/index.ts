// Test helpers for suites that run guests on the lab (`@drover/lab/testing`): vitest-only, never for product code.
import { vi } from "vitest";
import { readTicks } from "../ticks.js";

/**
 * Waits until the guest writing `serialFile` has ticked more than `above` times and returns the count.
 * The default deadline is generous: TCG guests boot slowly on a loaded 2-core machine.
 */
export async function ticksAbove(what: string, serialFile: string, above: number, timeout = 120_000): Promise<number> {
  return vi.waitFor(
    async () => {
      const ticks = await readTicks(serialFile);
      if (ticks <= above) throw new Error(`waiting for ${what}: ${ticks} ticks in ${serialFile}, want more than ${above}`);
      return ticks;
    },
    { timeout, interval: 200 },
  );
}
