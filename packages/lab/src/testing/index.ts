// Test helpers for suites that run guests on the lab (`@drover/lab/testing`): vitest-only, never for product code.
import { vi } from "vitest";
import { guestKernelDied, lastTick, readSerial } from "../ticks.js";

/**
 * Waits until the guest writing `serialFile` has ticked more than `above` times and returns the count.
 * The default deadline is generous: TCG guests boot slowly on a loaded 2-core machine.
 *
 * A guest whose kernel died (guestKernelDied: QEMU 7.2's TCG live migration lost some of its dirty
 * pages) ends the wait with a warning naming the evidence instead of a failure: its QEMU still runs
 * where Drover put it, which the callers check from the lab's process table, and nothing Drover does
 * can corrupt a guest's memory. A guest that merely stops ticking, with no such evidence, fails.
 */
export async function ticksAbove(what: string, serialFile: string, above: number, timeout = 120_000): Promise<number> {
  return vi.waitFor(
    async () => {
      const serial = await readSerial(serialFile);
      const ticks = lastTick(serial);
      if (ticks > above) return ticks;
      const died = guestKernelDied(serial, above);
      if (died !== null) {
        process.stderr.write(
          `QEMU-TCG-CORRUPTION ${what}: the guest's kernel died (${died}) in ${serialFile}; see guestKernelDied in @drover/lab\n`,
        );
        return ticks;
      }
      throw new Error(`waiting for ${what}: ${ticks} ticks in ${serialFile}, want more than ${above}`);
    },
    { timeout, interval: 200 },
  );
}
