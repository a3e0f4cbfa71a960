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
  /** Extra command-line arguments for nats-server. */
  args?: string[];
  /** Milliseconds to wait for the server to accept connections (default 10 s). */
  startTimeoutMs?: number;
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

  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const host = opts.host ?? "127.0.0.1";
    const port = opts.port ?? (await freePort(host));
    const ownsStore = opts.storeDir === undefined;
    const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), "drover-nats-")));
    const server = new NatsServer(host, port, storeDir, ownsStore, opts, undefined);
    await server.restart();
    return server;
  }

  /** Starts the process again on the same port and store (after stop(), or to simulate a restart). */
  async restart(): Promise<void> {
    if (this.child) await this.stopProcess();
    const args = ["-a", this.host, "-p", String(this.port), "-js", "-sd", this.storeDir, ...(this.opts.args ?? [])];
    const child = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once("error", (e) => reject(new Error(`nats-server could not start: ${e.message}`)));
      child.once("exit", (code) => reject(new Error(`nats-server exited with ${code}: ${stderr.trim()}`)));
    });
    this.child = child;
    await Promise.race([waitForPort(this.host, this.port, this.opts.startTimeoutMs ?? 10_000), exited]);
    exited.catch(() => undefined);
  }

  /** Stops the process (SIGTERM to its pid, SIGKILL after 5 s); the store stays. */
  async stopProcess(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
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
