// How long each host really takes to wake: from the wake's record (sent) to its healthy report (the
// wake's end), per host, from the power actions the store keeps. Plans time wakes by its p90 instead
// of the configured timeout; a host whose last wakes failed is expected to cost a timeout per failure
// more, so consolidation (fastest first) and the capacity wake pick it last. The same records say
// when each host last came on, which consolidation's `minOnMs` (no wake/off churn) reads.
import type { PowerRow, Store } from "@drover/store";
import type { SchedulerConfig } from "../config.js";

/** Wakes per host the p90 is taken over (the newest). */
export const WAKE_LATENCY_SAMPLES = 20;

/** The `q` quantile (0..1) of `xs`, nearest rank; undefined for none. */
export function quantile(xs: readonly number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

interface HostWakes {
  /** Measured latencies, newest last. */
  latencies: number[];
  /** Failed or timed-out wakes since the last success. */
  failuresInRow: number;
  /** When the host last came on (a wake that succeeded, or a report from standby), unless powered off since. */
  onSinceMs?: number;
}

export class WakeLatencies {
  private readonly hosts = new Map<string, HostWakes>();

  constructor(
    private readonly d: { store: Pick<Store, "power">; config: SchedulerConfig },
    hostIds: Iterable<string>,
  ) {
    // Newest first from the store: latencies until enough, failures until the first success, and
    // whether the newest power action that succeeded brought the host on.
    for (const id of hostIds) {
      const w = this.of(id);
      let sawSuccess = false;
      let sawPowerChange = false;
      for (const row of d.store.power.list({ host: id, limit: 200 })) {
        if (row.status === "succeeded" && !sawPowerChange) {
          sawPowerChange = true;
          if (row.action === "wake") w.onSinceMs = row.updatedMs;
        }
        if (row.action !== "wake") continue;
        if (row.status === "succeeded") {
          sawSuccess = true;
          if (w.latencies.length < WAKE_LATENCY_SAMPLES) w.latencies.unshift(row.updatedMs - row.createdMs);
        } else if ((row.status === "failed" || row.status === "timed-out") && !sawSuccess) w.failuresInRow++;
      }
    }
  }

  private of(host: string): HostWakes {
    let w = this.hosts.get(host);
    if (!w) this.hosts.set(host, (w = { latencies: [], failuresInRow: 0 }));
    return w;
  }

  /** A power action ended (the power manager's record of it). */
  ended(row: PowerRow): void {
    const w = this.of(row.host);
    if (row.action !== "wake") {
      if (row.status === "succeeded") delete w.onSinceMs;
      return;
    }
    if (row.status === "succeeded") {
      w.onSinceMs = row.updatedMs;
      w.latencies.push(row.updatedMs - row.createdMs);
      if (w.latencies.length > WAKE_LATENCY_SAMPLES) w.latencies.shift();
      w.failuresInRow = 0;
    } else if (row.status === "failed" || row.status === "timed-out") w.failuresInRow++;
  }

  /** A host in standby reported: something other than Drover powered it on. */
  cameOn(host: string, atMs: number): void {
    this.of(host).onSinceMs = atMs;
  }

  /** When the host last came on, if it did since the records began and was not powered off since. */
  onSinceMs(host: string): number | undefined {
    return this.hosts.get(host)?.onSinceMs;
  }

  /** p90 of the measured wakes, or undefined before any. */
  p90(host: string): number | undefined {
    return quantile(this.hosts.get(host)?.latencies ?? [], 0.9);
  }

  failuresInRow(host: string): number {
    return this.hosts.get(host)?.failuresInRow ?? 0;
  }

  /**
   * How long planning expects a wake of this host to take until it is healthy: the p90 measured (the
   * configured timeout before any wake succeeded, as before), plus a timeout per failure in a row.
   */
  expectedMs(host: string): number {
    const timeout = this.timeoutMs(host);
    return (this.p90(host) ?? timeout) + this.failuresInRow(host) * timeout;
  }

  private timeoutMs(host: string): number {
    return this.d.config.hosts[host]?.power.wakeTimeoutMs ?? 300_000;
  }

  /** What `expectedMs` is made of, for a wake's reason: "p90 wake 95 s", or the timeout it stands in for. */
  explain(host: string): string {
    const p90 = this.p90(host);
    const failures = this.failuresInRow(host);
    const base =
      p90 !== undefined ? `p90 wake ${seconds(p90)} s` : `no wake measured yet, the wake timeout ${seconds(this.timeoutMs(host))} s`;
    return failures > 0 ? `${base} + a timeout for each of ${failures} failed wake(s) in a row` : base;
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(0);
