import type { Logger } from "@drover/protocol";
import { AgentErrorCode, CallTimeoutError, errorInfo } from "./errors.js";
import type { HvConnection, Hypervisor } from "./hypervisor.js";
import { DROVER_NS } from "./domain-xml.js";

export interface LibvirtHealthState {
  reachable: boolean;
  uri: string;
  version: string | null;
  latencyMs: number | null;
  lastError: { code: string; message: string; atMs: number } | null;
  sinceMs: number;
}

export interface LinkOptions {
  uri: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  callTimeoutMs: number;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new CallTimeoutError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/**
 * The agent's connection to its local libvirtd: opens it, notices when it goes away (close
 * callback or a failed probe), reconnects with exponential backoff, and reports each transition.
 */
export class LibvirtLink {
  private conn: HvConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private stopped = false;
  private connecting: Promise<void> | null = null;
  readonly health: LibvirtHealthState;
  /** Told the uuid of a domain whose Drover metadata changed (libvirt's metadata-change event, on every connection). */
  onDroverMetadataChange: (uuid: string) => void = () => {};

  constructor(
    private readonly hv: Hypervisor,
    private readonly opts: LinkOptions,
    private readonly log: Logger,
    private readonly onTransition: (up: boolean, detail: string) => void,
  ) {
    this.backoffMs = opts.reconnectMinMs;
    this.health = { reachable: false, uri: opts.uri, version: null, latencyMs: null, lastError: null, sinceMs: Date.now() };
  }

  /** The live connection, or null while libvirtd is unreachable. */
  get connection(): HvConnection | null {
    return this.conn && this.conn.isAlive() ? this.conn : null;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  /** Measures a cheap call; a failure marks libvirtd down and schedules a reconnect. */
  async probe(): Promise<void> {
    const c = this.conn;
    if (!c) return;
    const t0 = performance.now();
    try {
      this.health.version = await withTimeout(c.version(), this.opts.callTimeoutMs, "virConnectGetLibVersion");
      this.health.latencyMs = Math.round((performance.now() - t0) * 1000) / 1000;
    } catch (e) {
      this.down(e, "probe failed");
    }
  }

  /** Records a libvirt error seen by any caller (kept as lastError in the report). */
  noteError(e: unknown): void {
    this.health.lastError = { ...errorInfo(e, AgentErrorCode.LibvirtError), atMs: Date.now() };
  }

  private async connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      try {
        const t0 = performance.now();
        const c = await withTimeout(this.hv.open(this.opts.uri), this.opts.callTimeoutMs, `open ${this.opts.uri}`);
        if (this.stopped) {
          await c.close().catch(() => undefined);
          return;
        }
        this.health.version = await withTimeout(c.version(), this.opts.callTimeoutMs, "virConnectGetLibVersion");
        this.health.latencyMs = Math.round((performance.now() - t0) * 1000) / 1000;
        this.conn = c;
        c.onMetadataChange((uuid, nsuri) => {
          if (nsuri === DROVER_NS) this.onDroverMetadataChange(uuid);
        });
        c.onClose((reason) => {
          if (this.conn === c) this.down(new Error(`the connection to libvirtd was ${reason}`), "connection closed");
        });
        this.backoffMs = this.opts.reconnectMinMs;
        this.setReachable(true, `connected to ${this.opts.uri} (libvirt ${this.health.version})`);
      } catch (e) {
        this.noteError(e);
        this.setReachable(false, `cannot connect to ${this.opts.uri}: ${(e as Error).message}`);
        this.scheduleReconnect();
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private down(e: unknown, why: string): void {
    this.noteError(e);
    const c = this.conn;
    this.conn = null;
    if (c) void c.close().catch(() => undefined);
    this.health.latencyMs = null;
    this.setReachable(false, `${why}: ${(e as Error)?.message ?? e}`);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.opts.reconnectMaxMs, this.backoffMs * 2);
    this.log.debug({ delayMs: delay }, "libvirt reconnect scheduled");
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  private setReachable(up: boolean, detail: string): void {
    const was = this.health.reachable;
    this.health.reachable = up;
    if (was === up) return;
    this.health.sinceMs = Date.now();
    if (up) this.log.info({ uri: this.opts.uri }, detail);
    else this.log.warn({ uri: this.opts.uri }, detail);
    this.onTransition(up, detail);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.connecting;
    const c = this.conn;
    this.conn = null;
    if (c) await c.close().catch(() => undefined);
  }
}
