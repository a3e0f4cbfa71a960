import { badOption } from "./errors.js";
import type { Logger } from "@drover/protocol";
import { isAlive, killProc, spawnDetached, stopProc, type ProcRef, type SpawnSpec } from "./proc.js";

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

  /** SIGKILL, as a crash would end it; it stays down until start() or restart(). */
  async kill(): Promise<void> {
    await killProc(this.proc);
    this.proc = undefined;
  }

  state(): ManagedState {
    return { name: this.name, spec: this.spec, logFile: this.logFile, proc: isAlive(this.proc) ? (this.proc ?? null) : null };
  }
}

/**
 * When a crashed daemon is started again: systemd's `Restart=on-failure` with `RestartSec` and
 * the start limit (`StartLimitBurst` starts within `StartLimitIntervalSec`, then it stays failed).
 * This is the one place the lab's choice is made; libvirtd's unit on Debian restarts on failure.
 */
export const RESTART_ON_FAILURE: RestartPolicy = { delayMs: 1000, burst: 5, intervalMs: 60_000, checkEveryMs: 250 };

export interface RestartPolicy {
  /** RestartSec: how long a crashed unit stays down before it is started again. */
  delayMs: number;
  /** StartLimitBurst starts within StartLimitIntervalSec (`intervalMs`), then it is left down. */
  burst: number;
  intervalMs: number;
  /** How often the units are looked at. */
  checkEveryMs: number;
}

/** A supervised daemon: `crashed()` is true when it died without being stopped on purpose. */
export interface SupervisedUnit {
  name: string;
  crashed(): Promise<boolean>;
  start(): Promise<void>;
}

/**
 * Restarts units that crash, as systemd would (RESTART_ON_FAILURE): a unit seen crashed is started
 * again after `delayMs` if it is still down then; past `burst` starts within `intervalMs` it is
 * left down and logged. A unit stopped on purpose (its pid no longer recorded) is not a crash.
 */
export class RestartSupervisor {
  private timer: NodeJS.Timeout | undefined;
  private readonly starts = new Map<string, number[]>();
  private readonly gaveUp = new Set<string>();
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly units: () => readonly SupervisedUnit[],
    private readonly log?: Logger,
    private readonly policy: RestartPolicy = RESTART_ON_FAILURE,
  ) {}

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.inFlight = this.sweep().finally(() => {
        this.inFlight = undefined;
        if (!this.stopped) this.timer = setTimeout(loop, this.policy.checkEveryMs);
      });
    };
    this.timer = setTimeout(loop, this.policy.checkEveryMs);
  }

  /** Stops supervising and waits for a restart in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private async sweep(): Promise<void> {
    const crashed: SupervisedUnit[] = [];
    for (const u of this.units()) if (!this.gaveUp.has(u.name) && (await u.crashed().catch(() => false))) crashed.push(u);
    if (crashed.length === 0) return;
    await new Promise((r) => setTimeout(r, this.policy.delayMs));
    await Promise.all(crashed.map((u) => this.restart(u)));
  }

  private async restart(u: SupervisedUnit): Promise<void> {
    // Still down after the delay (not stopped on purpose meanwhile, nor started by someone else)?
    if (this.stopped || !(await u.crashed().catch(() => false))) return;
    const now = Date.now();
    const recent = (this.starts.get(u.name) ?? []).filter((t) => now - t < this.policy.intervalMs);
    if (recent.length >= this.policy.burst) {
      this.gaveUp.add(u.name);
      this.log?.error({ unit: u.name, starts: recent.length, withinMs: this.policy.intervalMs }, "start limit hit: left down");
      return;
    }
    this.starts.set(u.name, [...recent, now]);
    this.log?.warn({ unit: u.name, attempt: recent.length + 1 }, "crashed: restarting (Restart=on-failure)");
    await u.start().catch((e: unknown) => this.log?.error({ unit: u.name, err: e }, "restart after a crash failed"));
  }

  /** Lets a unit that hit the start limit be supervised again (what `systemctl reset-failed` does). */
  resetFailed(name: string): void {
    this.gaveUp.delete(name);
    this.starts.delete(name);
  }
}
