// The load of every host, VM and the whole cluster, remembered in the store: sampled from the
// cluster picture once per `history.resolutionMs` (mean and peak of the report samples since the
// last one), written off the report path in bounded batches by the flush timer, folded into
// 5-minute buckets as it ages, and read back at start so the planner's histories and the forecast
// do not begin empty after a restart.
import type { LoadKind, LoadSampleInput, Store } from "@drover/store";
import type { Logger } from "@drover/protocol";
import type { ClusterState, Ring } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";

export type LoadHistoryConfig = SchedulerConfig["history"];

/** Recent full-resolution values of one series, as the rings take them. */
export interface SeededHistory {
  cpuMhz: number[];
  memoryMiB: number[];
}

export class LoadRecorder {
  private readonly queue: LoadSampleInput[] = [];
  /** Position in `queue` of the next row to write (rows before it are written). */
  private written = 0;
  private nextSampleMs = 0;
  private lastCompactMs: number;
  /** Stored samples not yet handed to a host or VM that reported again after the restart. */
  private readonly seeds = new Map<string, SeededHistory>();

  constructor(
    private readonly d: { store: Pick<Store, "load">; state: ClusterState; config: SchedulerConfig; log: Logger },
    nowMs: number,
  ) {
    this.lastCompactMs = nowMs;
  }

  private get cfg(): LoadHistoryConfig {
    return this.d.config.history;
  }

  /** Rows sampled and not written yet. */
  get backlog(): number {
    return this.queue.length - this.written;
  }

  /**
   * Reads the newest stored samples of every host and VM (the rings' length of them) to seed their
   * histories: hosts known now at once, the others when they first report (`seed`).
   */
  restore(nowMs: number): void {
    if (!this.cfg.enabled) return;
    const since = nowMs - this.d.config.reports.historySamples * this.cfg.resolutionMs;
    for (const kind of ["host", "vm"] as const) {
      for (const [id, pts] of this.d.store.load.recent(kind, since)) {
        this.seeds.set(`${kind}:${id}`, { cpuMhz: pts.map((p) => p.cpuMhz), memoryMiB: pts.map((p) => p.memoryMiB) });
      }
    }
    for (const h of this.d.state.hosts.values()) this.seedInto("host", h.id, h.cpuMhz, h.memoryMiB);
  }

  /** A host or VM entry was just created: its history starts from what the store remembers. */
  seedInto(kind: "host" | "vm", id: string, cpu: Ring, mem: Ring): void {
    const key = `${kind}:${id}`;
    const s = this.seeds.get(key);
    if (!s) return;
    this.seeds.delete(key);
    for (const v of s.cpuMhz) cpu.push(v);
    for (const v of s.memoryMiB) mem.push(v);
  }

  /** Called by the scheduler's flush: samples when one is due, writes a batch, compacts when due. */
  flush(nowMs: number): void {
    if (!this.cfg.enabled) return;
    if (nowMs >= this.nextSampleMs) {
      this.sample(nowMs);
      this.nextSampleMs = (Math.floor(nowMs / this.cfg.resolutionMs) + 1) * this.cfg.resolutionMs;
    }
    this.write(this.cfg.writeBatchRows);
    if (nowMs - this.lastCompactMs >= this.cfg.compactEveryMs) {
      this.lastCompactMs = nowMs;
      this.compact(nowMs);
    }
  }

  /** Writes every queued row (at shutdown). */
  drain(): void {
    if (this.cfg.enabled) this.write(Infinity);
  }

  /** One sample per reachable host and each of its VMs, and the cluster's total VM demand. */
  sample(nowMs: number): void {
    const { state, config } = this.d;
    // Report samples since the last sample: the rings hold one per report.
    const k = Math.max(1, Math.round(this.cfg.resolutionMs / config.reports.intervalMs));
    let clusterCpu = 0;
    let clusterMem = 0;
    let any = false;
    for (const h of state.hosts.values()) {
      if (!h.report || !state.isReachable(h, nowMs)) continue;
      any = true;
      this.push("host", h.id, nowMs, h.cpuMhz, h.memoryMiB, k);
    }
    for (const v of state.allVms()) {
      const h = state.hosts.get(v.host);
      if (!h || !state.isReachable(h, nowMs)) continue;
      const s = this.push("vm", v.uuid, nowMs, v.cpuMhz, v.memoryMiB, k);
      clusterCpu += s.cpuMhz;
      clusterMem += s.memoryMiB;
    }
    if (any)
      this.queue.push({
        kind: "cluster",
        id: config.cluster,
        atMs: nowMs,
        cpuMhz: clusterCpu,
        cpuMaxMhz: clusterCpu,
        memoryMiB: clusterMem,
      });
    // A store that refuses writes for long must not grow memory without bound: the oldest go.
    const over = this.backlog - this.cfg.maxBacklogRows;
    if (over > 0) {
      this.written += over;
      this.d.log.warn({ dropped: over }, "load history: store behind, oldest unwritten samples dropped");
    }
  }

  private readonly stats = { mean: 0, max: 0 };

  private push(kind: LoadKind, id: string, atMs: number, cpu: Ring, mem: Ring, k: number): LoadSampleInput {
    const c = cpu.meanMax(k, this.stats);
    const row: LoadSampleInput = {
      kind,
      id,
      atMs,
      cpuMhz: Math.max(0, c.mean),
      cpuMaxMhz: Math.max(0, c.max),
      memoryMiB: Math.max(0, mem.last ?? 0),
    };
    this.queue.push(row);
    return row;
  }

  private write(limit: number): void {
    const n = Math.min(limit, this.backlog);
    if (n <= 0) return;
    try {
      this.d.store.load.append(this.queue.slice(this.written, this.written + n));
      this.written += n;
    } catch (e) {
      // Kept for the next flush (the store's health says why it refuses).
      this.d.log.warn({ err: (e as Error).message, backlog: this.backlog }, "load history: write failed; kept for the next flush");
      return;
    }
    if (this.written === this.queue.length) {
      this.queue.length = 0;
      this.written = 0;
    } else if (this.written > 100_000) {
      this.queue.splice(0, this.written);
      this.written = 0;
    }
  }

  compact(nowMs: number): void {
    const c = this.cfg;
    try {
      this.d.store.load.compact({ foldBeforeMs: nowMs - c.fullResolutionMs, dropBeforeMs: nowMs - c.retainMs, maxRows: c.maxRows });
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, "load history: compaction failed; tried again later");
    }
  }
}
