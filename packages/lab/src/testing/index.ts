// Test helpers for suites that run guests on the lab (`@drover/lab/testing`): vitest-only, never for product code.
import { vi } from "vitest";
import { domainStateBeside, guestKernelDied, lastTick, readSerial, readTicks } from "../ticks.js";

/**
 * Waits until the guest writing `serialFile` has ticked more than `above` times and returns the count.
 * The default deadline is generous: TCG guests boot slowly on a loaded 2-core machine.
 *
 * QEMU 7.2's TCG live migration loses some of a guest's dirty pages (guestKernelDied in ../ticks.ts),
 * so a guest that arrived by migration may die on the destination. Two cases end the wait with a
 * `QEMU-TCG-CORRUPTION` warning instead of a failure:
 * - the serial output shows its kernel died (an oops, a panic, the counter starting again);
 * - it printed nothing new until the deadline while libvirtd there records its domain as running
 *   and arrived by migration (the kernel hung without a word).
 * Either way its QEMU runs where Drover put it, which the callers check from the lab's process
 * table, and nothing Drover does can corrupt a guest's memory. A domain paused or otherwise not
 * running (a move Drover left unfinished), or a guest that was never migrated, still fails.
 */
export async function ticksAbove(what: string, serialFile: string, above: number, timeout = 120_000): Promise<number> {
  const corrupted = (ticks: number, evidence: string): number => {
    process.stderr.write(`QEMU-TCG-CORRUPTION ${what}: ${evidence} in ${serialFile}; see guestKernelDied in @drover/lab\n`);
    return ticks;
  };
  try {
    return await vi.waitFor(
      async () => {
        const serial = await readSerial(serialFile);
        const ticks = lastTick(serial);
        if (ticks > above) return ticks;
        const died = guestKernelDied(serial, above);
        if (died !== null) return corrupted(ticks, `the guest's kernel died (${died})`);
        throw new Error(`waiting for ${what}: ${ticks} ticks in ${serialFile}, want more than ${above}`);
      },
      { timeout, interval: 200 },
    );
  } catch (e) {
    const domain = await domainStateBeside(serialFile);
    if (domain?.state === "running" && domain.reason === "migrated")
      return corrupted(await readTicks(serialFile), `the guest hung silently (its domain runs there, arrived by migration)`);
    throw new Error(`${(e as Error).message}; ${describeDomain(domain)}`, { cause: e });
  }
}

function describeDomain(domain: Awaited<ReturnType<typeof domainStateBeside>>): string {
  return domain ? `its domain is ${domain.state} (${domain.reason})` : "no domain of it there";
}

/** How libvirtd says a domain that arrived by migration runs: resumed after a pause rung, or post-copy. */
const ARRIVED = new Set(["migrated", "unpaused", "postcopy"]);

/**
 * Checks that the guest writing `serialFile` arrived on that host by migration (libvirtd's record
 * there: running, not `booted`; a domain still arriving, paused for the migration, is waited for)
 * and ticks past `above` (ticksAbove). A Drover bug that started the guest afresh on the destination
 * fails here whether or not QEMU's TCG corrupted it; the counter starting again at 1 cannot tell the
 * two apart.
 */
export async function movedLive(what: string, serialFile: string, above: number, timeout = 120_000): Promise<number> {
  await vi.waitFor(
    async () => {
      const domain = await domainStateBeside(serialFile);
      if (domain?.state !== "running" || !ARRIVED.has(domain.reason))
        throw new Error(`${what}: not arrived by live migration: ${describeDomain(domain)}`);
    },
    { timeout: Math.min(timeout, 30_000), interval: 200 },
  );
  return ticksAbove(what, serialFile, above, timeout);
}
