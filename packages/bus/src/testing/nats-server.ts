import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Loopback address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port; default a free one picked by the kernel. */
  port?: number;
  /** JetStream store directory; default a fresh temporary directory removed on stop. */
  storeDir?: string;
  /** A nats-server config file (-c), e.g. writeCredentials()'s nats-server.conf; the flags here override its listen address and store. */
  configFile?: string;
  /** Extra command-line arguments for nats-server. */
  args?: string[];
  /** Milliseconds to wait for the server to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

/** Servers still running, killed if the test process exits without disposing them (no orphans). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of running) c.kill("SIGKILL");
  });
}

/** A real `nats-server -js` process, started on loopback, stopped by pid on dispose. */
export class NatsServer implements AsyncDisposable {
  private constructor(
    readonly host: string,
    readonly port: number,
    readonly storeDir: string,
    private readonly ownsStore: boolean,
    private readonly opts: NatsServerOptions,
    private child: ChildProcess | undefined,
  ) {}

  /** Called with each chunk of the server's log (stderr) as it comes, e.g. to wait for a reload's verdict. */
  private readonly logWatchers = new Set<(chunk: string) => void>();

  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True from a successful start until the process is stopped or killed. */
  get isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const host = opts.host ?? "127.0.0.1";
    const ownsStore = opts.storeDir === undefined;
    const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), "drover-nats-")));
    // A port picked by the kernel can be taken by someone else before nats-server binds it: retry.
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await freePort(host));
      const server = new NatsServer(host, port, storeDir, ownsStore, opts, undefined);
      try {
        await server.restart();
        return server;
      } catch (e) {
        const portTaken = /address already in use/i.test(String(e));
        if (opts.port !== undefined || !portTaken || attempt >= 5) {
          if (ownsStore) await rm(storeDir, { recursive: true, force: true });
          throw e;
        }
      }
    }
  }

  /** Starts the process again on the same port and store (after stop(), or to simulate a restart). */
  async restart(): Promise<void> {
    if (this.child) await this.stopProcess();
    const args = [
      ...(this.opts.configFile ? ["-c", this.opts.configFile] : []),
      ...["-a", this.host, "-p", String(this.port), "-js", "-sd", this.storeDir],
      ...(this.opts.args ?? []),
    ];
    const child = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    killOnExit(child);
    const timeoutMs = this.opts.startTimeoutMs ?? 10_000;
    let stderr = "";
    // "Server is ready" comes from this very process: a port check alone could see another server.
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`nats-server did not become ready on ${this.host}:${this.port} within ${timeoutMs} ms: ${failureReason(stderr)}`),
          ),
        timeoutMs,
      );
      // Stays attached for the life of the process: an undrained pipe would block the server.
      child.stderr?.on("data", (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-4000);
        for (const w of this.logWatchers) w(b.toString());
        if (stderr.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`nats-server could not start: ${e.message}`));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}: ${failureReason(stderr)}`));
      });
    });
    try {
      await ready;
      await waitForPort(this.host, this.port, timeoutMs);
    } catch (e) {
      await this.stopProcess();
      throw e;
    }
  }

  /**
   * Makes the server re-read its config file (SIGHUP), e.g. after a user was revoked, and waits for
   * the server to say it did: the reload runs asynchronously in the server, so a client that
   * connects right after the signal may still meet the old users.
   */
  async reload(timeoutMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) throw new Error("nats-server is not running");
    let seen = "";
    let watch: ((chunk: string) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        watch = (chunk) => {
          seen += chunk;
          if (seen.includes("Reloaded server configuration")) resolve();
          const failed = /Failed to reload server configuration: (.*)/.exec(seen);
          if (failed) reject(new Error(`nats-server refused the reload: ${failed[1]}`));
        };
        this.logWatchers.add(watch);
        timer = setTimeout(() => reject(new Error(`nats-server did not confirm the reload within ${timeoutMs} ms`)), timeoutMs);
        child.kill("SIGHUP");
      });
    } finally {
      clearTimeout(timer);
      if (watch) this.logWatchers.delete(watch);
    }
  }

  /** Kills the process by its pid with `signal` (default SIGKILL: a crash) and waits for it to exit; the store stays. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await this.endProcess(signal);
  }

  /** Stops the process (SIGTERM to its pid, SIGKILL after 5 s); the store stays. */
  async stopProcess(): Promise<void> {
    await this.endProcess("SIGTERM", 5000);
  }

  private async endProcess(signal: NodeJS.Signals, killAfterMs?: number): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    await gone;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    if (this.ownsStore) await rm(this.storeDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The fatal/error lines of the server's log, else its last line. */
function failureReason(stderr: string): string {
  const lines = stderr.trim().split("\n");
  const bad = lines.filter((l) => /\[(FTL|ERR)\]/.test(l));
  return (bad.length ? bad : lines.slice(-1)).map((l) => l.replace(/^\[\d+\] \S+ \S+ /, "")).join("; ");
}

/**
 * A loopback port where nothing listens for as long as a test runs: port 1 is below the kernel's
 * ephemeral range, so no listen(0) is given it. A port freed after a listen(0) can be handed to
 * another test's server at once, which then answers where a test expects a refusal.
 */
export const REFUSED_PORT = 1;

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
