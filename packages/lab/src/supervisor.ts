import { badOption } from "./errors.js";
import { isAlive, spawnDetached, stopProc, type ProcRef, type SpawnSpec } from "./proc.js";

/** Serializable state of a supervised process, kept in the lab's state files. */
export interface ManagedState {
  name: string;
  spec: SpawnSpec;
  logFile: string;
  proc: ProcRef | null;
}

export function checkSpec(what: string, spec: unknown): SpawnSpec {
  const s = spec as Partial<SpawnSpec> | undefined;
  if (!s || typeof s.cmd !== "string" || s.cmd === "") throw badOption(`${what}.cmd`, s?.cmd, "a command");
  if (!Array.isArray(s.args) || s.args.some((a) => typeof a !== "string")) throw badOption(`${what}.args`, s.args, "an array of strings");
  if (s.env !== undefined && (typeof s.env !== "object" || Object.values(s.env).some((v) => typeof v !== "string"))) {
    throw badOption(`${what}.env`, s.env, "an object of strings");
  }
  return { cmd: s.cmd, args: [...s.args], ...(s.env ? { env: { ...s.env } } : {}), ...(s.cwd ? { cwd: s.cwd } : {}) };
}

/**
 * A process the lab spawns for someone else's code (agent, scheduler): detached, output appended
 * to a log file under the state dir, stopped by pid. No automatic restart: a test that kills an
 * agent wants it to stay dead until it says otherwise.
 */
export class ManagedProcess {
  private proc: ProcRef | undefined;

  constructor(
    readonly name: string,
    readonly spec: SpawnSpec,
    readonly logFile: string,
    proc?: ProcRef | null,
  ) {
    this.proc = proc ?? undefined;
  }

  static fromState(s: ManagedState): ManagedProcess {
    return new ManagedProcess(s.name, s.spec, s.logFile, s.proc);
  }

  get pid(): number | undefined {
    return isAlive(this.proc) ? this.proc?.pid : undefined;
  }

  get running(): boolean {
    return isAlive(this.proc);
  }

  start(): void {
    if (isAlive(this.proc)) return;
    this.proc = spawnDetached(this.spec, this.logFile);
  }

  async stop(): Promise<void> {
    await stopProc(this.proc);
    this.proc = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.start();
  }

  state(): ManagedState {
    return { name: this.name, spec: this.spec, logFile: this.logFile, proc: isAlive(this.proc) ? (this.proc ?? null) : null };
  }
}
