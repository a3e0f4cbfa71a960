import { createServer, type Server } from "node:net";
import type { Logger, MigrationPortsReport } from "@drover/protocol";

/**
 * The destination side of the `migration-ports` preflight check. An incoming migration's QEMU
 * listens on a port of libvirt's migration_port_min..max only while that migration runs, so a
 * probe of the range at any other time finds nothing. The agent therefore keeps a listener on the
 * range's last port (libvirt's allocator skips a port in use): a peer whose connect is accepted
 * there knows the path to the range is open; refused (nothing listens, or a firewall's reset) or
 * silent (filtered) both fail. A port it cannot bind is tried again at the next report.
 */
export class MigrationPortListener {
  private server: Server | null = null;
  private binding: Promise<void> | null = null;
  private lastError: string | null = null;

  constructor(
    /** The address peers reach this host's migrations on (the migration URI's host); null: none. */
    private readonly address: string | null,
    private readonly range: { min: number; max: number },
    private readonly log: Logger,
  ) {}

  get listener(): number {
    return this.range.max;
  }

  report(): MigrationPortsReport {
    return { min: this.range.min, max: this.range.max, listener: this.listener };
  }

  /** Listens if not listening yet (called before each report). */
  ensure(): Promise<void> {
    if (this.server || !this.address) return Promise.resolve();
    this.binding ??= new Promise<void>((resolve) => {
      const s = createServer((sock) => sock.destroy());
      s.once("error", (e: NodeJS.ErrnoException) => {
        const msg = `${this.address}:${this.listener}: ${e.code ?? e.message}`;
        if (msg !== this.lastError)
          this.log.warn({ port: this.listener }, `migration port listener not bound (${msg}); retried at the next report`);
        this.lastError = msg;
        s.close();
        resolve();
      });
      s.listen({ host: this.address as string, port: this.listener, exclusive: true }, () => {
        this.server = s;
        this.lastError = null;
        this.log.info({ port: this.listener }, `migration port listener on ${this.address}:${this.listener}`);
        resolve();
      });
    }).finally(() => (this.binding = null));
    return this.binding;
  }

  async close(): Promise<void> {
    await this.binding;
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
