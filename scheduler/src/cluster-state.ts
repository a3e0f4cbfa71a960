// The cluster picture built from host reports: cheap to update (the ingest path runs for every
// report), queried by the snapshot builder, the dispatcher, the power manager and the API.
import { ReportingStates, type HostReport, type HostState, type VmReport } from "@drover/protocol";

/**
 * What the scheduler decided for a host, as opposed to its state (protocol HostState), which is
 * this decision judged against the reports: a host in "normal" mode is healthy or unreachable
 * depending on whether it reports, a draining one becomes unreachable when it falls silent and
 * draining again when it returns. So the mode is its own idea: it has no "healthy" and no
 * "unreachable", which only the reports decide, and "normal" is no state.
 */
export type HostMode = "normal" | Exclude<HostState, "healthy" | "unreachable">;

/** The mode to resume from a stored state after a restart (a state the reports decided resumes as normal). */
export const modeOfStoredState: Record<HostState, HostMode> = {
  healthy: "normal",
  unreachable: "normal",
  draining: "draining",
  maintenance: "maintenance",
  standby: "standby",
  waking: "waking",
  "powering-off": "powering-off",
};

/** Fixed-size history (circular, no allocation per sample); values() is oldest first. */
export class Ring {
  private readonly buf: Float64Array;
  private next = 0;
  private count = 0;
  constructor(private readonly size: number) {
    this.buf = new Float64Array(size);
  }
  push(v: number): void {
    this.buf[this.next] = v;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
  }
  /** The newest `n` values (default: all), oldest first. */
  values(n = this.count): number[] {
    const k = Math.max(0, Math.min(n, this.count));
    const out = new Array<number>(k);
    let j = (this.next - k + this.size) % this.size;
    for (let i = 0; i < k; i++) {
      out[i] = this.buf[j]!;
      if (++j === this.size) j = 0;
    }
    return out;
  }
  /** Mean and max of the newest `n` values (0 and 0 for none), without allocating. */
  meanMax(n: number, out: { mean: number; max: number }): { mean: number; max: number } {
    const k = Math.max(0, Math.min(n, this.count));
    let sum = 0;
    let max = k === 0 ? 0 : -Infinity;
    let j = (this.next - k + this.size) % this.size;
    for (let i = 0; i < k; i++) {
      const v = this.buf[j]!;
      sum += v;
      if (v > max) max = v;
      if (++j === this.size) j = 0;
    }
    out.mean = k === 0 ? 0 : sum / k;
    out.max = max;
    return out;
  }
  get length(): number {
    return this.count;
  }
  get last(): number | undefined {
    return this.count === 0 ? undefined : this.buf[(this.next - 1 + this.size) % this.size];
  }
}

export interface HostEntry {
  readonly id: string;
  report: HostReport | null;
  /** Agent time of the last valid report. */
  lastReportMs: number | null;
  /** Scheduler time the last valid report arrived: reachability is judged on this clock. */
  lastSeenMs: number | null;
  /**
   * When the store says the host last reported, before this scheduler started: shown (not "never")
   * until it reports again. Nothing judges reachability or freshness by it.
   */
  heardBeforeStartMs: number | null;
  /** libvirtd reachable as last reported. */
  libvirtOk: boolean;
  mode: HostMode;
  modeSinceMs: number;
  wakeFailed: boolean;
  cpuMhz: Ring;
  memoryMiB: Ring;
  /** Capacity from the store (hosts that have not reported since the scheduler started). */
  knownCapacity: HostReport["capacity"] | null;
  /** Effective state seen by the last tick (to log and persist changes). */
  lastState: HostState | undefined;
  /** Valid reports ingested from this host (to wait for a fresh one). */
  reportCount: number;
  /** Changed since the last store flush. */
  dirty: boolean;
}

export interface VmEntry {
  readonly uuid: string;
  /** The host the VM runs on (the source while it migrates). */
  host: string;
  report: VmReport;
  seenMs: number;
  cpuMhz: Ring;
  memoryMiB: Ring;
}

/**
 * A move the scheduler learned the end of from its result, before the reports show it. `from`: the
 * host the VM left, whose report read before the end may still list it (hidden until that host omits
 * it); `to`: the destination in this cluster, which holds the VM until its report lists it. One
 * unreachable window after `atMs` (scheduler clock) the reports decide again: the source's listing
 * counts, and the destination's next report without the VM drops the hold, so a VM still running on
 * its source, or not on its destination, is shown where it is.
 */
interface Settling {
  from: string | null;
  to: string | null;
  readonly atMs: number;
}

/** Same VMs in the same order: the common case, checked without allocating. */
function sameVms(a: readonly VmReport[], b: readonly VmReport[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.uuid !== b[i]!.uuid) return false;
  return true;
}

/** Fills a new host's or VM's history rings (from the stored load history, after a restart). */
export type HistorySeeder = (kind: "host" | "vm", id: string, cpuMhz: Ring, memoryMiB: Ring) => void;

/** Told of every valid report after it is applied; `wasReachable` is the host's reachability before it. */
export type HostReportListener = (host: HostEntry, wasReachable: boolean) => void;

export interface ClusterStateOptions {
  intervalMs: number;
  unreachableAfter: number;
  historySamples: number;
  /** Reports dated further ahead of the receive clock are refused (default: no limit). */
  maxClockSkewMs?: number;
  /** Which hosts' reports are applied (default: any host's). */
  admit?: (host: string) => boolean;
}

/** Why a report was not applied. */
export const IngestDrops = ["foreign", "wrong-host", "future", "unknown-host", "stale"] as const;
export type IngestDrop = (typeof IngestDrops)[number];
export type IngestResult = "accepted" | IngestDrop;

export class ClusterState {
  readonly hosts = new Map<string, HostEntry>();
  /** uuid -> host id -> that host's report of the VM. A VM is on two hosts mid-migration. */
  private readonly sightings = new Map<string, Map<string, VmReport>>();
  private readonly vms = new Map<string, VmEntry>();
  private readonly byName = new Map<string, string>();
  /** uuid -> a move that ended but that the reports do not show yet (few: each lasts about one interval). */
  private readonly settling = new Map<string, Settling>();
  readonly counters = { reports: 0, dropped: Object.fromEntries(IngestDrops.map((d) => [d, 0])) as Record<IngestDrop, number> };
  private readonly reportListeners: HostReportListener[] = [];
  /** Called once per new host or VM entry (never per report), so the ingest path pays nothing for it. */
  seedHistory: HistorySeeder | undefined;

  constructor(
    readonly cluster: string,
    private readonly opts: ClusterStateOptions,
  ) {}

  get staleAfterMs(): number {
    return this.opts.intervalMs * this.opts.unreachableAfter;
  }

  /** Registers a listener for every valid report (the power manager follows wakes with it). */
  onHostReport(listener: HostReportListener): void {
    this.reportListeners.push(listener);
  }

  /** Adds a host known from the store or the config, before it reports. */
  ensureHost(id: string, nowMs: number): HostEntry {
    let h = this.hosts.get(id);
    if (!h) {
      h = {
        id,
        report: null,
        lastReportMs: null,
        lastSeenMs: null,
        heardBeforeStartMs: null,
        libvirtOk: false,
        mode: "normal",
        modeSinceMs: nowMs,
        wakeFailed: false,
        cpuMhz: new Ring(this.opts.historySamples),
        memoryMiB: new Ring(this.opts.historySamples),
        knownCapacity: null,
        lastState: undefined,
        reportCount: 0,
        dirty: false,
      };
      this.hosts.set(id, h);
      this.seedHistory?.("host", id, h.cpuMhz, h.memoryMiB);
    }
    return h;
  }

  /**
   * Applies one validated report received from `fromHost` (the host of the subject it came on).
   * A report is dropped (and counted by reason) when it is of another cluster, claims another
   * host than its subject's, is dated more than `maxClockSkewMs` ahead of `nowMs`, comes from a
   * host that may not join, or is older than what this host already reported.
   */
  ingest(r: HostReport, nowMs: number, fromHost: string = r.host): IngestResult {
    const drop = this.dropReason(r, nowMs, fromHost);
    if (drop) {
      this.counters.dropped[drop]++;
      return drop;
    }
    const h = this.ensureHost(r.host, nowMs);
    this.counters.reports++;
    const wasReachable = this.isReachable(h, nowMs);
    const prev = h.report;
    h.report = r;
    h.lastReportMs = r.timeMs;
    h.lastSeenMs = nowMs;
    h.libvirtOk = r.libvirt.reachable;
    h.wakeFailed = false;
    h.reportCount++;
    h.dirty = true;
    const mhz = r.capacity.mhz;
    h.cpuMhz.push(r.usage.cpuFraction * r.capacity.cpus * mhz);
    h.memoryMiB.push(r.usage.memoryUsedMiB);

    const listed = this.settling.size === 0 ? r.vms : this.settle(r, nowMs);
    for (const vm of listed) {
      let seen = this.sightings.get(vm.uuid);
      if (!seen) this.sightings.set(vm.uuid, (seen = new Map()));
      seen.set(r.host, vm);
      this.place(vm, r.host, mhz, nowMs);
    }
    if (prev && !sameVms(prev.vms, listed)) {
      const now = new Set<string>();
      for (const vm of listed) now.add(vm.uuid);
      for (const vm of prev.vms) if (!now.has(vm.uuid)) this.forget(vm.uuid, r.host);
    }
    for (const l of this.reportListeners) l(h, wasReachable);
    return "accepted";
  }

  /**
   * Applies `r` to the moves still settling and returns the VMs it lists that count: without those
   * the host left by a move it reports from before the end.
   */
  private settle(r: HostReport, nowMs: number): readonly VmReport[] {
    let hidden: Set<string> | undefined;
    for (const [uuid, m] of this.settling) {
      const over = nowMs - m.atMs > this.staleAfterMs;
      const lists = (r.host === m.from || r.host === m.to) && r.vms.some((v) => v.uuid === uuid);
      if (m.from !== null) {
        if (over || (r.host === m.from && !lists)) m.from = null;
        else if (r.host === m.from) (hidden ??= new Set()).add(uuid);
      }
      if (m.to !== null && r.host === m.to && (lists || over)) {
        m.to = null;
        // Not listed by its destination a whole window after the end: the VM is where the reports
        // say (a silent destination keeps it until it reports).
        if (!lists && this.vms.get(uuid)?.host === r.host) this.forget(uuid, r.host);
      }
      if (m.from === null && m.to === null) this.settling.delete(uuid);
    }
    return hidden ? r.vms.filter((v) => !hidden.has(v.uuid)) : r.vms;
  }

  private dropReason(r: HostReport, nowMs: number, fromHost: string): IngestDrop | null {
    if (r.cluster !== this.cluster) return "foreign";
    if (r.host !== fromHost) return "wrong-host";
    if (this.opts.maxClockSkewMs !== undefined && r.timeMs > nowMs + this.opts.maxClockSkewMs) return "future";
    if (this.opts.admit && !this.opts.admit(r.host)) return "unknown-host";
    const h = this.hosts.get(r.host);
    if (h && h.lastReportMs !== null && r.timeMs < h.lastReportMs) return "stale";
    return null;
  }

  /**
   * Removes a host and what only its reports said (its VMs; a VM another host also reports moves
   * there). Returns the VMs that were placed on it, or null for an unknown host.
   */
  forgetHost(id: string): number | null {
    const h = this.hosts.get(id);
    if (!h) return null;
    const placed = this.vmsOn(id).length;
    for (const [uuid, m] of this.settling) if (m.from === id || m.to === id) this.settling.delete(uuid);
    for (const [uuid, seen] of [...this.sightings]) if (seen.has(id)) this.forget(uuid, id);
    // Placed here by a migration result but not reported here: where others report it, or gone.
    for (const v of this.vmsOn(id)) this.forget(v.uuid, id);
    this.hosts.delete(id);
    return placed;
  }

  /** Decides where a VM reported by `host` runs, given every host that reports it. */
  private place(vm: VmReport, host: string, mhz: number, nowMs: number): void {
    let e = this.vms.get(vm.uuid);
    if (!e) {
      e = {
        uuid: vm.uuid,
        host,
        report: vm,
        seenMs: nowMs,
        cpuMhz: new Ring(this.opts.historySamples),
        memoryMiB: new Ring(this.opts.historySamples),
      };
      this.vms.set(vm.uuid, e);
      this.byName.set(vm.name, vm.uuid);
      this.seedHistory?.("vm", vm.uuid, e.cpuMhz, e.memoryMiB);
    } else if (e.host !== host) {
      // Seen on two hosts (mid-migration: the destination holds a paused copy). The running copy
      // is the VM; while both run (post-copy switchover), the host it was on keeps it until one
      // of them stops reporting it.
      const cur = this.sightings.get(vm.uuid)?.get(e.host);
      const curHost = this.hosts.get(e.host);
      const curAlive = curHost !== undefined && this.isReachable(curHost, nowMs) && cur !== undefined;
      const curRunning = curAlive && cur?.state === "running";
      if (curAlive && !(vm.state === "running" && !curRunning)) return;
      e.host = host;
    }
    e.report = vm;
    e.seenMs = nowMs;
    e.cpuMhz.push(vm.cpuUsedVcpus * mhz);
    e.memoryMiB.push(vm.memoryUsedMiB);
  }

  private forget(uuid: string, host: string): void {
    const seen = this.sightings.get(uuid);
    seen?.delete(host);
    const e = this.vms.get(uuid);
    if (!e) return;
    if (!seen || seen.size === 0) {
      // Placed by a move's result on a host that has not listed it yet: kept there meanwhile.
      if (this.settling.get(uuid)?.to === e.host && e.host !== host) return;
      return this.dropVm(uuid);
    }
    if (e.host === host) {
      // The VM left this host: it is where another host reports it (prefer a running copy).
      let next: [string, VmReport] | undefined;
      for (const s of seen) if (!next || (s[1].state === "running" && next[1].state !== "running")) next = s;
      if (next) {
        e.host = next[0];
        e.report = next[1];
      }
    }
  }

  private dropVm(uuid: string): void {
    const e = this.vms.get(uuid);
    this.sightings.delete(uuid);
    this.vms.delete(uuid);
    if (e && this.byName.get(e.report.name) === uuid) this.byName.delete(e.report.name);
  }

  /**
   * A valid report arrived within `unreachableAfter` intervals (scheduler clock; the longer of the
   * configured and the agent's interval).
   */
  isReachable(h: HostEntry, nowMs: number): boolean {
    if (h.lastSeenMs === null) return false;
    // An agent configured with a longer interval than the scheduler expects is not "silent".
    const interval = Math.max(this.opts.intervalMs, h.report?.intervalMs ?? 0);
    return nowMs - h.lastSeenMs <= interval * this.opts.unreachableAfter;
  }

  /**
   * The mode as a state; the `ReportingStates` (protocol: what clients read as "the agent was heard")
   * hold only while the host's reports arrive and its libvirtd answers, and are "unreachable" otherwise.
   */
  stateOf(h: HostEntry, nowMs: number): HostState {
    const st: HostState = h.mode === "normal" ? "healthy" : h.mode;
    if (!ReportingStates.has(st)) return st;
    return this.isReachable(h, nowMs) && h.libvirtOk ? st : "unreachable";
  }

  /** Healthy hosts may be sources and destinations; draining ones only sources. */
  canBeSource(hostId: string, nowMs: number): boolean {
    const h = this.hosts.get(hostId);
    if (!h) return false;
    const s = this.stateOf(h, nowMs);
    return s === "healthy" || s === "draining";
  }

  canBeDestination(hostId: string, nowMs: number): boolean {
    const h = this.hosts.get(hostId);
    return h !== undefined && this.stateOf(h, nowMs) === "healthy";
  }

  setMode(hostId: string, mode: HostMode, nowMs: number): void {
    const h = this.hosts.get(hostId);
    if (!h || h.mode === mode) return;
    h.mode = mode;
    h.modeSinceMs = nowMs;
    h.dirty = true;
  }

  /** A migration result says where the VM runs now: believe it until the reports catch up. */
  moveVm(uuid: string, host: string, nowMs: number): void {
    const e = this.vms.get(uuid);
    if (!e || !this.hosts.has(host) || e.host === host) return;
    this.settling.set(uuid, { from: e.host, to: host, atMs: nowMs });
    // What the source listed it on predates the end: not "also on" the source.
    this.sightings.get(uuid)?.delete(e.host);
    e.host = host;
  }

  /** A migration result says the VM went to another cluster: it is no longer this cluster's. */
  vmLeft(uuid: string, nowMs: number): void {
    const e = this.vms.get(uuid);
    if (!e) return;
    this.dropVm(uuid);
    this.settling.set(uuid, { from: e.host, to: null, atMs: nowMs });
  }

  vm(ref: string): VmEntry | undefined {
    const r = ref.toLowerCase();
    return this.vms.get(r) ?? this.vms.get(this.byName.get(ref) ?? "");
  }

  allVms(): IterableIterator<VmEntry> {
    return this.vms.values();
  }

  get vmCount(): number {
    return this.vms.size;
  }

  vmsOn(hostId: string): VmEntry[] {
    const out: VmEntry[] = [];
    for (const v of this.vms.values()) if (v.host === hostId) out.push(v);
    return out;
  }

  /** Hosts other than the placed one that report this VM right now. */
  alsoOn(uuid: string): string[] {
    const e = this.vms.get(uuid);
    const seen = this.sightings.get(uuid);
    if (!e || !seen) return [];
    return [...seen.keys()].filter((h) => h !== e.host);
  }

  /** Every host whose latest report lists the VM (for reconciliation). */
  reportedOn(uuid: string): { host: string; state: string }[] {
    const seen = this.sightings.get(uuid);
    return seen ? [...seen].map(([host, vm]) => ({ host, state: vm.state })) : [];
  }

  /** VM count on the host as freshly reported (its last report, if still fresh). */
  freshVmCount(hostId: string, nowMs: number): number | null {
    const h = this.hosts.get(hostId);
    if (!h?.report || !this.isReachable(h, nowMs)) return null;
    return h.report.vms.length;
  }
}
