import type { Logger } from "@drover/protocol";
import { readLibvirtdFacts, type LibvirtdFacts } from "./hypervisor-facts.js";
import type { HvConnection, Hypervisor } from "./hypervisor.js";
import { withTimeout } from "./libvirt-link.js";

const MAX_PEERS = 32;

export interface PeerLibvirtd {
  conn: HvConnection;
  /** Read once when the connection opened: a libvirtd restarted or replaced closes it, so they never go stale. */
  facts: LibvirtdFacts;
  /** Time to open the connection and read its facts; 0 when it was already open. */
  openedInMs: number;
}

/**
 * Connections from this agent to its peers' libvirtds, kept open between preflights (opening one
 * and reading its capabilities cost most of a preflight). A connection libvirt closed (peer
 * restarted, keepalive lost) is opened again on next use; at most MAX_PEERS are kept, the least
 * recently used closed first.
 */
export class PeerConnections {
  private readonly peers = new Map<string, Promise<PeerLibvirtd>>();

  constructor(
    private readonly hv: Hypervisor,
    private readonly callTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  async get(uri: string): Promise<PeerLibvirtd> {
    const held = this.peers.get(uri);
    if (held) {
      this.peers.delete(uri);
      this.peers.set(uri, held);
      const p = await held.catch(() => null);
      if (p && p.conn.isAlive()) return { ...p, openedInMs: 0 };
      if (this.peers.get(uri) === held) this.peers.delete(uri);
    }
    const opening = this.open(uri);
    this.peers.set(uri, opening);
    opening.catch(() => {
      if (this.peers.get(uri) === opening) this.peers.delete(uri);
    });
    while (this.peers.size > MAX_PEERS) {
      const [oldest, p] = this.peers.entries().next().value as [string, Promise<PeerLibvirtd>];
      this.peers.delete(oldest);
      void p.then((x) => x.conn.close()).catch(() => undefined);
    }
    return opening;
  }

  private async open(uri: string): Promise<PeerLibvirtd> {
    const t0 = performance.now();
    const conn = await withTimeout(this.hv.open(uri), this.callTimeoutMs, `open ${uri}`);
    try {
      const facts = await readLibvirtdFacts(conn, this.callTimeoutMs);
      this.log.debug({ uri }, "peer libvirtd connection kept open");
      return { conn, facts, openedInMs: performance.now() - t0 };
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    const all = [...this.peers.values()];
    this.peers.clear();
    await Promise.all(all.map((p) => p.then((x) => x.conn.close()).catch(() => undefined)));
  }
}
