import { readFile } from "node:fs/promises";

/**
 * The last tick counter a guest printed to its serial file (0 when none yet or no file). The
 * file is written on the host that runs the guest, so after a migration the destination's file
 * starts at the count the source had reached: the same guest kept running.
 */
export async function readTicks(serialFile: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(serialFile, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
  let last = 0;
  for (const m of text.matchAll(/^tick (\d+)\r?\n/gm)) last = Number(m[1]);
  return last;
}

/** The first tick counter in the file (0 when none), to tell a continued guest from a rebooted one. */
export async function readFirstTick(serialFile: string): Promise<number> {
  try {
    const m = /^tick (\d+)\r?\n/m.exec(await readFile(serialFile, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
}
