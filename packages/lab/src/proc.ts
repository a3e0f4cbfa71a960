import { execFile, spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { LabError, LabErrorCode } from "./errors.js";

/**
 * A process the lab started, identified by pid plus its kernel start time, so that a pid reused
 * by someone else after a crash is never mistaken for ours (and never killed).
 */
export interface ProcRef {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTime: number;
}

function readStat(pid: number): { state: string; startTime: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may contain spaces and parentheses; everything after the last ')' is fixed.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = rest[0] ?? "";
    const startTime = Number(rest[19]);
    return { state, startTime };
  } catch {
    return undefined;
  }
}

export function procRef(pid: number): ProcRef | undefined {
  const s = readStat(pid);
  if (!s || s.state === "Z" || s.state === "X") return undefined;
  return { pid, startTime: s.startTime };
}

/**
 * True when the process runs and is the one we started. A zombie counts as gone: PID 1 of the
 * machine this was written on does not reap orphans, so a killed daemonized QEMU stays a zombie.
 */
export function isAlive(ref: ProcRef | undefined): boolean {
  if (!ref) return false;
  const s = readStat(ref.pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X" && s.startTime === ref.startTime;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Never signals a reused pid. */
export async function stopProc(ref: ProcRef | undefined, graceMs = 5000): Promise<void> {
  if (!isAlive(ref) || !ref) return;
  try {
    process.kill(ref.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(ref)) {
    if (Date.now() > deadline) {
      try {
        process.kill(ref.pid, "SIGKILL");
      } catch {
        return;
      }
      const hard = Date.now() + 5000;
      while (isAlive(ref) && Date.now() < hard) await sleep(20);
      return;
    }
    await sleep(20);
  }
}

/** SIGKILL (a crash, as a fault test wants it); resolves when the process is gone. Never signals a reused pid. */
export async function killProc(ref: ProcRef | undefined): Promise<void> {
  if (!isAlive(ref) || !ref) return;
  try {
    process.kill(ref.pid, "SIGKILL");
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (isAlive(ref) && Date.now() < deadline) await sleep(20);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      // A LabError from the probe is a verdict (the process died): no point waiting on.
      if (e instanceof LabError) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new LabError(LabErrorCode.Timeout, `timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

export interface SpawnSpec {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/**
 * Starts a long-lived process detached from the caller (own process group, output appended to
 * `logFile`), so that a lab brought up by `drover lab up` outlives the CLI process.
 */
export function spawnDetached(spec: SpawnSpec, logFile: string): ProcRef {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(spec.cmd, spec.args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...spec.env },
      cwd: spec.cwd,
    });
    if (child.pid === undefined) {
      throw new LabError(LabErrorCode.StartFailed, `could not spawn ${spec.cmd}`);
    }
    // The child is reaped by Node if we are still around; it must not keep our event loop alive.
    child.on("error", () => undefined);
    child.unref();
    const ref = procRef(child.pid);
    return ref ?? { pid: child.pid, startTime: -1 };
  } finally {
    closeSync(fd);
  }
}

/** Runs a short command; rejects with its stderr on failure. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new LabError(LabErrorCode.CommandFailed, `${cmd} ${args.join(" ")} failed: ${String(stderr).trim() || err.message}`, {
            cause: err,
          }),
        );
      } else resolve(String(stdout));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** True when a TCP connection to host:port is accepted. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
