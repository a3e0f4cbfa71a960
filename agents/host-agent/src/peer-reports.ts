import type { Bus, Subscription } from "@drover/bus";
import { HostReport, subjects, type Logger } from "@drover/protocol";

const MAX_PEERS = 32;

/**
 * Latest reports of the peers this agent was asked about (preflight needs the destination's
 * bridges and storage, which only the destination's own agent knows). Subscribes on demand, keeps
 * at most MAX_PEERS subscriptions (least recently used dropped).
 */
export class PeerReports {
  private readonly subs = new Map<string, { sub: Subscription; latest: HostReport | null; waiters: Array<(r: HostReport) => void> }>();

  constructor(
    private readonly bus: Bus,
    private readonly cluster: string,
    private readonly log: Logger,
  ) {}

  /** The peer's latest report no older than `maxAgeMs`, waiting up to `waitMs` for a fresh one. */
  async get(host: string, maxAgeMs: number, waitMs: number): Promise<HostReport | null> {
    const e = this.entry(host);
    if (e.latest && Date.now() - e.latest.timeMs <= maxAgeMs) return e.latest;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        e.waiters = e.waiters.filter((w) => w !== done);
        resolve(null);
      }, waitMs);
      const done = (r: HostReport) => {
        clearTimeout(t);
        resolve(r);
      };
      e.waiters.push(done);
    });
  }

  private entry(host: string) {
    let e = this.subs.get(host);
    if (e) {
      this.subs.delete(host);
      this.subs.set(host, e);
      return e;
    }
    const created: { sub: Subscription; latest: HostReport | null; waiters: Array<(r: HostReport) => void> } = {
      sub: undefined as unknown as Subscription,
      latest: null,
      waiters: [],
    };
    created.sub = this.bus.subscribe(subjects.hostReport(this.cluster, host), HostReport, (r) => {
      created.latest = r;
      const ws = created.waiters;
      created.waiters = [];
      for (const w of ws) w(r);
    });
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
