import type { Bus, Subscription } from "@drover/bus";
import { HostReport, subjects, type DestinationFacts, type Logger } from "@drover/protocol";

const MAX_PEERS = 32;

type Entry = { sub: Subscription; latest: DestinationFacts | null; waiters: Array<(r: DestinationFacts) => void> };

/**
 * Latest reports of the peers this agent was asked about (preflight needs the destination's
 * bridges and storage, which only the destination's own agent knows), by cluster and host: this
 * agent's own cluster and the `peerClusters` it may move guests into, on each one's own report
 * subjects; any other cluster is never followed. Subscribes on demand, keeps at most MAX_PEERS
 * subscriptions over all clusters (least recently used dropped). A command may bring the
 * destination's report as the scheduler holds it (`offer`): the newer of the two is the one kept,
 * so the first move to a peer does not wait a report interval for the peer's own.
 */
export class PeerReports {
  private readonly subs = new Map<string, Entry>();
  private readonly clusters: ReadonlySet<string>;

  constructor(
    private readonly bus: Bus,
    private readonly cluster: string,
    private readonly log: Logger,
    peerClusters: readonly string[] = [],
  ) {
    this.clusters = new Set([cluster, ...peerClusters]);
  }

  /**
   * The peer's latest report no older than `maxAgeMs`, waiting up to `waitMs` for a fresh one; null
   * at once for a cluster this agent does not follow.
   */
  async get(host: string, maxAgeMs: number, waitMs: number, cluster = this.cluster): Promise<DestinationFacts | null> {
    if (!this.clusters.has(cluster)) return null;
    const e = this.entry(cluster, host);
    if (e.latest && Date.now() - e.latest.timeMs <= maxAgeMs) return e.latest;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        e.waiters = e.waiters.filter((w) => w !== done);
        resolve(null);
      }, waitMs);
      const done = (r: DestinationFacts) => {
        clearTimeout(t);
        resolve(r);
      };
      e.waiters.push(done);
    });
  }

  /**
   * The destination's report as a command from the scheduler gives it (only the scheduler may send
   * commands; the libvirtd at its URI must still show its host UUID in preflight). Kept, under
   * `facts.cluster`, if newer; dropped for a cluster this agent does not follow.
   */
  offer(facts: DestinationFacts): void {
    if (!this.clusters.has(facts.cluster)) {
      this.log.debug({ peer: facts.host, cluster: facts.cluster }, "offered report of a cluster not followed; dropped");
      return;
    }
    const e = this.entry(facts.cluster, facts.host);
    if (e.latest && e.latest.timeMs >= facts.timeMs) return;
    this.deliver(e, facts);
  }

  private deliver(e: Entry, r: DestinationFacts): void {
    e.latest = r;
    const ws = e.waiters;
    e.waiters = [];
    for (const w of ws) w(r);
  }

  private entry(cluster: string, host: string) {
    // Cluster names and host ids are subject tokens: neither holds a dot.
    const key = `${cluster}.${host}`;
    let e = this.subs.get(key);
    if (e) {
      this.subs.delete(key);
      this.subs.set(key, e);
      return e;
    }
    const created: Entry = {
      sub: undefined as unknown as Subscription,
      latest: null,
      waiters: [],
    };
    created.sub = this.bus.subscribe(subjects.hostReport(cluster, host), HostReport, (r) => {
      // The subject is the identity NATS vouches for; a body claiming another host would have its
      // bridges and storage stand in for this one's in preflight.
      if (r.cluster !== cluster || r.host !== host) {
        this.log.warn({ peer: host, cluster, claims: { host: r.host, cluster: r.cluster } }, "peer report for another host ignored");
        return;
      }
      this.deliver(created, r);
    });
    this.subs.set(key, created);
    this.log.debug({ peer: host, cluster }, "following peer reports");
    while (this.subs.size > MAX_PEERS) {
      const [oldest, v] = this.subs.entries().next().value as [string, { sub: Subscription }];
      v.sub.unsubscribe();
      this.subs.delete(oldest);
    }
    e = created;
    return e;
  }

  close(): void {
    for (const e of this.subs.values()) e.sub.unsubscribe();
    this.subs.clear();
  }
}
