// Operator controls of a running lab, usable from any process (`drover lab restart`, tests): each
// reads the state files, acts on the recorded pids, and records the new ones.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@drover/protocol";
import { LabError, LabErrorCode, badOption } from "./errors.js";
import { LabHost } from "./lab-host.js";
import { readLabFile, writeLabFile, type LabFile, type NatsNodeRecord } from "./lab-state.js";
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

/** Node 1's log is nats.log (the one server of a default lab); node k's nats-n<k>.log. */
export function natsLogFile(stateDir: string, node = 1): string {
  return join(stateDir, node === 1 ? "nats.log" : `nats-n${node}.log`);
}

/** Scheduler 1 logs to scheduler.log, scheduler k to scheduler-<k>.log. */
export function schedulerLogFile(stateDir: string, index = 1): string {
  return join(stateDir, index === 1 ? "scheduler.log" : `scheduler-${index}.log`);
}

/** The leadership id a lab's scheduler `index` is configured with, so the lab's status can say which leads. */
export function labSchedulerId(index: number): string {
  return `scheduler-${index}`;
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
        if (!isAlive(ref)) throw new LabError(LabErrorCode.StartFailed, `nats-server exited: ${natsExitReason(out, address)}`);
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

/**
 * Why nats-server stopped, from its log: its fatal lines ([FTL]) if any, else the last three lines;
 * a taken address names the likely cause, another lab on the same net.
 */
function natsExitReason(log: string, address: { host: string; port: number }): string {
  const lines = log.trim().split("\n");
  const fatal = lines.filter((l) => l.includes("[FTL]")).map((l) => l.slice(l.indexOf("[FTL]") + 6).trim());
  const why = (fatal.length > 0 ? fatal : lines.slice(-3)).join(" | ");
  return /address already in use/.test(why)
    ? `${why} (another lab on ${address.host}? see its drover lab status, or start this one on another --net)`
    : why;
}

/** Starts one recorded nats-server node and waits until it is ready. */
export function startNatsNode(n: NatsNodeRecord): Promise<ProcRef> {
  const u = new URL(n.url);
  return startNats(n.command, n.logFile, { host: u.hostname, port: Number(u.port) });
}

/**
 * Which of several (schedulers, NATS nodes) a control means: `which` is its number 1..N, and may be
 * left out only when the lab has one.
 */
function pick<T>(items: T[], which: string | undefined, part: LabPart, none: string): { item: T; index: number } {
  if (items.length === 0) throw new LabError(LabErrorCode.NotFound, none);
  if (which === undefined) {
    if (items.length === 1) return { item: items[0]!, index: 0 };
    throw badOption(`lab ${part}`, which, `a ${part} number 1..${items.length} (this lab runs ${items.length})`);
  }
  const n = Number(which);
  if (!/^\d+$/.test(which) || n < 1 || n > items.length) throw badOption(`lab ${part}`, which, `a ${part} number 1..${items.length}`);
  return { item: items[n - 1]!, index: n - 1 };
}

/**
 * The lab file of a running lab. A part of a stopped lab is not started on its own: nothing would
 * stop it with the lab, and on the lab's addresses it may meet another lab's NATS.
 */
async function runningLabFile(stateDir: string): Promise<LabFile> {
  const file = await readLabFile(stateDir);
  if (!file) throw new LabError(LabErrorCode.NotFound, `no lab in ${stateDir} (start one: drover lab up)`);
  if (file.status !== "running")
    throw new LabError(LabErrorCode.NotFound, `the lab in ${stateDir} is ${file.status}, not running (start it: drover lab up)`);
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

function schedulerOf(file: LabFile, which: string | undefined): { p: ManagedProcess; index: number } {
  const { item, index } = pick(file.schedulers, which, "scheduler", "this lab runs no scheduler (no schedulerCommand given)");
  return { p: ManagedProcess.fromState(item), index };
}

function natsNodeOf(file: LabFile, which: string | undefined): NatsNodeRecord {
  return pick(file.natsNodes, which, "nats", `lab.json in ${file.stateDir} records no nats-server`).item;
}

/**
 * Stops the part (by pid) and starts it again with the same command line. `which` names the host of
 * an agent or libvirtd, or the number (1..N) of a scheduler or NATS node when the lab runs several.
 */
export async function restartPart(stateDir: string, part: LabPart, which?: string, o: PartOptions = {}): Promise<void> {
  const file = await runningLabFile(stateDir);
  switch (part) {
    case "scheduler": {
      const { p, index } = schedulerOf(file, which);
      await p.restart();
      file.schedulers[index] = p.state();
      return writeLabFile(file);
    }
    case "nats": {
      const node = natsNodeOf(file, which);
      await stopProc(node.proc ?? undefined);
      node.proc = null;
      await writeLabFile(file);
      node.proc = await startNatsNode(node);
      return writeLabFile(file);
    }
    case "agent":
      return (await labHost(file, which, part, o)).restartAgent();
    case "libvirtd":
      return (await labHost(file, which, part, o)).restart();
    default:
      throw badOption("lab part", part, LAB_PARTS.join("|"));
  }
}

/**
 * SIGKILL to one part (`which` as for restartPart), as a crash would end it. The scheduler, NATS and agents stay down until
 * restartPart(); a killed libvirtd is started again by the lab's supervision (RESTART_ON_FAILURE).
 */
export async function killPart(stateDir: string, part: LabPart, which?: string, o: PartOptions = {}): Promise<void> {
  const file = await runningLabFile(stateDir);
  switch (part) {
    case "scheduler":
      return schedulerOf(file, which).p.kill();
    case "nats":
      return killProc(natsNodeOf(file, which).proc ?? undefined);
    case "agent":
      return (await labHost(file, which, part, o)).killAgent();
    case "libvirtd":
      return (await labHost(file, which, part, o)).killLibvirtd();
    default:
      throw badOption("lab part", part, LAB_PARTS.join("|"));
  }
}
