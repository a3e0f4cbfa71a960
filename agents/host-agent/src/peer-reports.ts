import type { Bus, Subscription } from "@drover/bus";
import { HostReport, subjects, type DestinationFacts, type Logger } from "@drover/protocol";

const MAX_PEERS = 32;

type Entry = { sub: Subscription; latest: DestinationFacts | null; waiters: Array<(r: DestinationFacts) => void> };

/**
 * Latest reports of the peers this agent was asked about (preflight needs the destination's
 * bridges and storage, which only the destination's own agent knows). Subscribes on demand, keeps
 * at most MAX_PEERS subscriptions (least recently used dropped). A command may bring the
 * destination's report as the scheduler holds it (`offer`): the newer of the two is the one kept,
 * so the first move to a peer does not wait a report interval for the peer's own.
 */
export class PeerReports {
  private readonly subs = new Map<string, Entry>();

  constructor(
    private readonly bus: Bus,
    private readonly cluster: string,
    private readonly log: Logger,
  ) {}

  /** The peer's latest report no older than `maxAgeMs`, waiting up to `waitMs` for a fresh one. */
  async get(host: string, maxAgeMs: number, waitMs: number): Promise<DestinationFacts | null> {
    const e = this.entry(host);
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
   * commands; the libvirtd at its URI must still show its host UUID in preflight). Kept if newer.
   */
  offer(facts: DestinationFacts): void {
    const e = this.entry(facts.host);
    if (e.latest && e.latest.timeMs >= facts.timeMs) return;
    this.deliver(e, facts);
  }

  private deliver(e: Entry, r: DestinationFacts): void {
    e.latest = r;
    const ws = e.waiters;
    e.waiters = [];
    for (const w of ws) w(r);
  }

  private entry(host: string) {
    let e = this.subs.get(host);
    if (e) {
      this.subs.delete(host);
      this.subs.set(host, e);
      return e;
    }
    const created: Entry = {
      sub: undefined as unknown as Subscription,
      latest: null,
      waiters: [],
    };
    created.sub = this.bus.subscribe(subjects.hostReport(this.cluster, host), HostReport, (r) => this.deliver(created, r));
    this.subs.set(host, created);
    this.log.debug({ peer: host }, "following peer reports");
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
