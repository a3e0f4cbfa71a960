import { existsSync, readFileSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LabError, LabErrorCode } from "./errors.js";
import type { ManagedState } from "./supervisor.js";
import type { ProcRef, SpawnSpec } from "./proc.js";
import type { NetnsPlan } from "./netns.js";

export const DEFAULT_LAB_DIR = "/var/lib/drover-lab";

export function labDir(): string {
  return process.env["DROVER_LAB_DIR"] || DEFAULT_LAB_DIR;
}

/** <stateDir>/lab.json: how another process (`drover lab down|status`) finds a running lab. */
export interface LabFile {
  version: 1;
  status: "starting" | "running" | "stopping" | "stopped";
  stateDir: string;
  cluster: string;
  net: number;
  /** Node 1's URL (the one server of a default lab). */
  natsUrl: string;
  /** Every nats-server of the lab: one by default, three for a cluster (`natsNodes`). */
  natsNodes: NatsNodeRecord[];
  /**
   * The process holding the lab's NATS server and Wake-on-LAN listeners: "keeper" = the detached
   * process of labUp() (stopped by SIGTERM), "inline" = a test or program that called Lab.start().
   */
  owner: { kind: "keeper" | "inline"; proc: ProcRef | null };
  /** Host dirs; each holds lab-host.json with that host's pids, power state and agent. */
  hosts: Array<{ name: string; dir: string }>;
  guests: Array<{ name: string; uuid: string; diskPath: string | null; firstHost: string }>;
  /** Scheduler 1..N (none without a schedulerCommand); with more than one they contend for the lease. */
  schedulers: ManagedState[];
  /** "netns": namespaces, veths and the blackhole route that teardown removes (see netns.ts). */
  network: { mode: "loopback" } | { mode: "netns"; plan: NetnsPlan };
  startedAt: string;
}

/** One nats-server: how it is started (again) from any process, and its pid while it runs. */
export interface NatsNodeRecord {
  /** Its server name in a cluster (`n1`, `n2`, ...); also the log file's name past node 1. */
  name: string;
  url: string;
  /** Its monitoring endpoint (cluster nodes only), for the JetStream view in the lab's status. */
  monitorUrl: string | null;
  command: SpawnSpec;
  logFile: string;
  proc: ProcRef | null;
}

export function labFilePath(stateDir: string): string {
  return join(stateDir, "lab.json");
}

export async function readLabFile(stateDir: string): Promise<LabFile | undefined> {
  const file = labFilePath(stateDir);
  if (!existsSync(file)) return undefined;
  return parseLabFile(file, await readFile(file, "utf8"));
}

/** The same, synchronously (for getters that must see restarts made by another process). */
export function readLabFileSync(stateDir: string): LabFile | undefined {
  const file = labFilePath(stateDir);
  if (!existsSync(file)) return undefined;
  return parseLabFile(file, readFileSync(file, "utf8"));
}

function parseLabFile(file: string, text: string): LabFile {
  try {
    const v = JSON.parse(text) as LabFile & Legacy;
    if (v.version !== 1) throw new Error(`unknown version ${String(v.version)}`);
    return fromLegacy(v);
  } catch (e) {
    throw new LabError(LabErrorCode.NotFound, `${file} is not a lab state file: ${(e as Error).message}`, { cause: e });
  }
}

/** What lab.json held before NATS nodes and schedulers were lists: one of each. */
interface Legacy {
  nats?: ProcRef | null;
  natsCommand?: SpawnSpec;
  scheduler?: ManagedState | null;
}

/** A lab started by an older version is still stopped by pid, its one NATS server and scheduler included. */
function fromLegacy(v: LabFile & Legacy): LabFile {
  const { nats, natsCommand, scheduler, ...rest } = v;
  return {
    ...rest,
    natsNodes:
      v.natsNodes ??
      (natsCommand
        ? [
            {
              name: "n1",
              url: v.natsUrl,
              monitorUrl: null,
              command: natsCommand,
              logFile: join(v.stateDir, "nats.log"),
              proc: nats ?? null,
            },
          ]
        : []),
    schedulers: v.schedulers ?? (scheduler ? [scheduler] : []),
  };
}

export async function writeLabFile(lab: LabFile): Promise<void> {
  const file = labFilePath(lab.stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(lab, null, 2)}\n`);
  await rename(tmp, file);
}
