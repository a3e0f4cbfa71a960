import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError, LabErrorCode } from "./errors.js";
import type { LabGuestOptions } from "./guest.js";
import { labStatus, teardown, type LabStatus } from "./lab.js";
import { labDir, readLabFile } from "./lab-state.js";
import { isAlive, spawnDetached, stopProc, waitFor } from "./proc.js";
import type { CommandTemplate } from "./templates.js";

/** Options of labUp(): all plain data, since the lab is kept by a detached process. */
export interface LabUpOptions {
  hosts?: number;
  guests?: number;
  net?: number;
  stateDir?: string;
  cluster?: string;
  natsPort?: number;
  /** nats-servers: 1 (default) or a cluster of 3 (LabOptions.natsNodes). */
  natsNodes?: number;
  /** Schedulers started from the `scheduler` template, `${scheduler}` being each one's number (default 1). */
  schedulers?: number;
  wolPort?: number;
  guest?: Omit<LabGuestOptions, "name" | "uuid">;
  bridges?: string[] | Record<string, string[]>;
  /** Agent command per host (placeholders, see CommandTemplate). */
  agent?: CommandTemplate;
  scheduler?: CommandTemplate;
  /** "loopback" (default) or "netns" (see LabOptions.network). */
  network?: "loopback" | "netns";
  /** How long to wait for the lab to run (default 180 s). */
  timeoutMs?: number;
}

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** `node --import tsx <file>`, runnable from any cwd (tsx resolves from this package). */
export function tsxCommand(file: string, args: string[]): { cmd: string; args: string[]; cwd: string } {
  return { cmd: process.execPath, args: ["--import", "tsx", file, ...args], cwd: PACKAGE_DIR };
}

/** Refuses when a lab runs in `stateDir`: callers check before they write anything for a new one. */
export async function refuseIfLabRuns(stateDir: string): Promise<void> {
  if ((await labStatus(stateDir)).running)
    throw new LabError(LabErrorCode.Busy, `a lab already runs in ${stateDir}; stop it first (drover lab down)`);
}

/**
 * Starts a lab that outlives the caller (`drover lab up`): a detached keeper process runs
 * Lab.start() and holds NATS and the Wake-on-LAN listeners; everything is recorded in
 * <stateDir>/lab.json. Resolves once the lab runs, with its status.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<LabStatus> {
  const stateDir = resolve(opts.stateDir ?? labDir());
  await refuseIfLabRuns(stateDir);
  await mkdir(stateDir, { recursive: true });
  const logFile = join(stateDir, "keeper.log");
  const keeper = spawnDetached(tsxCommand(join(PACKAGE_DIR, "src", "keeper-main.ts"), [JSON.stringify({ ...opts, stateDir })]), logFile);
  await waitFor(
    `the lab in ${stateDir} to run`,
    async () => {
      const f = await readLabFile(stateDir).catch(() => undefined);
      if (f && f.status === "running" && f.owner.proc?.pid === keeper.pid) return true;
      if (!isAlive(keeper)) throw new LabError(LabErrorCode.StartFailed, keeperFailure(logFile));
      return undefined;
    },
    opts.timeoutMs ?? 180_000,
    200,
  ).catch(async (e: unknown) => {
    await stopProc(keeper, 60_000);
    await teardown(stateDir);
    throw e;
  });
  return labStatus(stateDir);
}

/**
 * Stops the lab in `stateDir` from any process: SIGTERM to its keeper (which stops the lab),
 * then a sweep of every pid the state files record (only if it is still the process started).
 */
export async function labDown(stateDir = labDir()): Promise<LabStatus> {
  const dir = resolve(stateDir);
  const file = await readLabFile(dir);
  if (!file) return labStatus(dir);
  if (file.owner.kind === "keeper" && file.owner.proc && file.owner.proc.pid !== process.pid) {
    await stopProc(file.owner.proc, 120_000);
  }
  await teardown(dir);
  return labStatus(dir);
}

export { labStatus };

/** Why the keeper stopped: its "lab start failed" error if it logged one, else the end of its log. */
function keeperFailure(file: string): string {
  if (!existsSync(file)) return "lab keeper exited (no log)";
  const lines = readFileSync(file, "utf8").trim().split("\n");
  for (const l of lines.toReversed()) {
    try {
      const e = JSON.parse(l) as { msg?: unknown; err?: unknown };
      if (e.msg === "lab start failed" && typeof e.err === "string") return `the lab did not start: ${e.err.replace(/^LabError: /, "")}`;
    } catch {
      // Not a keeper line (output of something it ran): read on.
    }
  }
  return `lab keeper exited: ${lines.slice(-8).join(" | ")} (${file})`;
}
