// Operator controls of a running lab, usable from any process (`drover lab restart`, tests): each
// reads the state files, acts on the recorded pids, and records the new ones.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@drover/protocol";
import { LabError, LabErrorCode, badOption } from "./errors.js";
import { LabHost } from "./lab-host.js";
import { readLabFile, writeLabFile, type LabFile } from "./lab-state.js";
import { canConnect, isAlive, killProc, spawnDetached, stopProc, waitFor, type ProcRef, type SpawnSpec } from "./proc.js";
import { ManagedProcess } from "./supervisor.js";

/** The parts of a lab an operator restarts one at a time. */
export const LAB_PARTS = ["scheduler", "nats", "agent", "libvirtd"] as const;
export type LabPart = (typeof LAB_PARTS)[number];

export interface PartOptions {
  /** The caller's own LabHost objects (a Lab's), so they stay current; else loaded from the state files. */
  hosts?: readonly LabHost[];
  log?: Logger;
}

export function natsLogFile(stateDir: string): string {
  return join(stateDir, "nats.log");
}

/**
 * Starts nats-server detached (it outlives whoever starts it, like the agents) and waits until this
 * very process says it is ready and its port answers.
 */
export async function startNats(spec: SpawnSpec, logFile: string, address: { host: string; port: number }): Promise<ProcRef> {
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  const ref = spawnDetached(spec, logFile);
  const fresh = () => (existsSync(logFile) ? readFileSync(logFile).subarray(from).toString() : "");
  try {
    await waitFor(
      `nats-server on ${address.host}:${address.port}`,
      async () => {
        const out = fresh();
        if (!isAlive(ref))
          throw new LabError(LabErrorCode.StartFailed, `nats-server exited: ${out.trim().split("\n").slice(-3).join(" | ")}`);
        return out.includes("Server is ready") && (await canConnect(address.host, address.port)) ? true : undefined;
      },
      30_000,
    );
  } catch (e) {
    await stopProc(ref);
    throw e;
  }
  return ref;
}

function natsAddressOf(file: LabFile): { host: string; port: number } {
  const u = new URL(file.natsUrl);
  return { host: u.hostname, port: Number(u.port) };
}

async function labFile(stateDir: string): Promise<LabFile> {
  const file = await readLabFile(stateDir);
  if (!file) throw new LabError(LabErrorCode.NotFound, `no lab in ${stateDir} (start one: drover lab up)`);
  return file;
}

async function labHost(file: LabFile, name: string | undefined, part: LabPart, o: PartOptions): Promise<LabHost> {
  if (!name) throw badOption(`lab ${part}`, name, `a host name (${file.hosts.map((h) => h.name).join(", ")})`);
  const own = o.hosts?.find((h) => h.name === name);
  if (own) {
    await own.refresh();
    return own;
  }
  const entry = file.hosts.find((h) => h.name === name);
  if (!entry)
    throw new LabError(
      LabErrorCode.NotFound,
      `no lab host named ${JSON.stringify(name)} (have ${file.hosts.map((h) => h.name).join(", ")})`,
    );
  return LabHost.load(entry.dir, o.log);
}

function schedulerOf(file: LabFile): ManagedProcess {
  if (!file.scheduler) throw new LabError(LabErrorCode.NotFound, "this lab runs no scheduler (no schedulerCommand given)");
  return ManagedProcess.fromState(file.scheduler);
}

/** Stops the part (by pid) and starts it again with the same command line; `host` names the host of an agent or libvirtd. */
export async function restartPart(stateDir: string, part: LabPart, host?: string, o: PartOptions = {}): Promise<void> {
  const file = await labFile(stateDir);
  switch (part) {
    case "scheduler": {
      const p = schedulerOf(file);
      await p.restart();
      file.scheduler = p.state();
      return writeLabFile(file);
    }
    case "nats": {
      if (!file.natsCommand) throw new LabError(LabErrorCode.NotFound, `lab.json in ${stateDir} does not say how NATS is started`);
      await stopProc(file.nats ?? undefined);
      file.nats = null;
      await writeLabFile(file);
      file.nats = await startNats(file.natsCommand, natsLogFile(stateDir), natsAddressOf(file));
      return writeLabFile(file);
    }
    case "agent":
      return (await labHost(file, host, part, o)).restartAgent();
    case "libvirtd":
      return (await labHost(file, host, part, o)).restart();
    default:
      throw badOption("lab part", part, LAB_PARTS.join("|"));
  }
}

/**
 * SIGKILL to one part, as a crash would end it. The scheduler, NATS and agents stay down until
 * restartPart(); a killed libvirtd is started again by the lab's supervision (RESTART_ON_FAILURE).
 */
export async function killPart(stateDir: string, part: LabPart, host?: string, o: PartOptions = {}): Promise<void> {
  const file = await labFile(stateDir);
  switch (part) {
    case "scheduler":
      return schedulerOf(file).kill();
    case "nats":
      return killProc(file.nats ?? undefined);
    case "agent":
      return (await labHost(file, host, part, o)).killAgent();
    case "libvirtd":
      return (await labHost(file, host, part, o)).killLibvirtd();
    default:
      throw badOption("lab part", part, LAB_PARTS.join("|"));
  }
}
