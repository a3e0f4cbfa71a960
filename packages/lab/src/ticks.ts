import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";

/** A file's text, "" when there is no such file (yet). */
async function readIfPresent(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
}

/** A guest's serial output so far ("" when there is no file yet). */
export const readSerial = readIfPresent;

/** Every complete `tick N` line (a line still being written is not one yet), with where it ends. */
function tickLines(serial: string): Array<{ n: number; end: number }> {
  return [...serial.matchAll(/^tick (\d+)\r?\n/gm)].map((m) => ({ n: Number(m[1]), end: m.index + m[0].length }));
}

/** The last tick counter in a guest's serial output (0 when none yet). */
export function lastTick(serial: string): number {
  return tickLines(serial).at(-1)?.n ?? 0;
}

/**
 * The last tick counter a guest printed to its serial file (0 when none yet or no file). The
 * file is written on the host that runs the guest, so after a migration the destination's file
 * starts at the count the source had reached: the same guest kept running.
 */
export async function readTicks(serialFile: string): Promise<number> {
  return lastTick(await readSerial(serialFile));
}

/** The first tick counter in the file (0 when none), to tell a continued guest from a rebooted one. */
export async function readFirstTick(serialFile: string): Promise<number> {
  return tickLines(await readSerial(serialFile))[0]?.n ?? 0;
}

/**
 * What in a guest's serial output shows that its kernel died since it printed a tick of at least
 * `since` (an oops or panic, or the counter starting again after a silent reboot), or null. On this
 * lab that is not a lost VM but QEMU 7.2's TCG losing dirty pages during a live migration: the fast
 * path of its dirty-bitmap sync clears bits without resetting the TCG TLB, so stores through an old
 * TLB entry are never resent (fixed in QEMU 9.0, commit 03bfc2188f "physmem: Fix migration dirty
 * bitmap coherency with TCG memory access"). Plain `virsh migrate` shows it without Drover
 * (ARCHITECTURE.md, "The lab"); KVM hosts track dirty pages in the kernel and are not affected.
 */
export function guestKernelDied(serial: string, since = 0): string | null {
  const ticks = tickLines(serial);
  const last = ticks.filter((t) => t.n >= since).at(-1);
  const from = last?.end ?? 0;
  const crash = /^.*(?:general protection fault|Oops: |BUG: |Kernel panic).*$/m.exec(serial.slice(from));
  if (crash) return crash[0].trim();
  let prev = last?.n ?? 0;
  for (const t of ticks.filter((x) => x.end > from)) {
    if (t.n < prev) return `tick counter started again: tick ${prev} then tick ${t.n}`;
    prev = t.n;
  }
  return null;
}

/** guestKernelDied() of a serial file (null when there is none yet). */
export async function guestKernelDiedIn(serialFile: string, since = 0): Promise<string | null> {
  return guestKernelDied(await readSerial(serialFile), since);
}

/**
 * The state libvirtd recorded for the guest whose serial file this is, on the host that file belongs
 * to (its status XML, <host dir>/run/qemu/<guest>.xml beside <host dir>/log/qemu/<guest>.serial), or
 * null when there is none (the guest does not run there). `reason` "migrated": it arrived by migration.
 */
export async function domainStateBeside(serialFile: string): Promise<{ state: string; reason: string } | null> {
  const hostDir = resolve(serialFile, "..", "..", "..");
  const xml = await readIfPresent(join(hostDir, "run", "qemu", `${basename(serialFile, ".serial")}.xml`));
  const m = /<domstatus state='([\w-]+)' reason='([\w-]+)'/.exec(xml);
  return m ? { state: m[1]!, reason: m[2]! } : null;
}
