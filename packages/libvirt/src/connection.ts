import type { CloseReason, DomainState, LifecycleEvent, MetadataType } from "./constants.js";
import { domainStateName, ErrorCode, LIFECYCLE_DETAILS, LIFECYCLE_EVENTS, METADATA_TYPES } from "./constants.js";
import type { DomainHost } from "./domain.js";
import { Domain } from "./domain.js";
import type { DomainStats } from "./domain-stats.js";
import { decodeDomainStats } from "./domain-stats.js";
import type { Logger } from "./errors.js";
import { LibvirtArgumentError, LibvirtError, LibvirtStateError, silentLogger } from "./errors.js";
import type { LoopEvent } from "./event-loop.js";
import type { JobStats } from "./job-stats.js";
import { decodeJobStats } from "./job-stats.js";
import { eventLoop, pool } from "./runtime.js";
import { DomainStatsFlags } from "./constants.js";
import { splitImagePath, volumeXml, type VolumeSpec } from "./storage-volume.js";

export interface OpenOptions {
  /** Seconds between keepalive probes on remote connections (<= 0 turns keepalive off). Default 5. */
  keepaliveIntervalS?: number;
  /** Unanswered probes before libvirt closes the connection (onClose: "lost"). Default 6. */
  keepaliveCount?: number;
  readOnly?: boolean;
  logger?: Logger;
}

export interface DomainInfo {
  uuid: string;
  name: string;
  /** Hypervisor id while running, null when inactive. */
  id: number | null;
  state: DomainState;
  reason: number;
  persistent: boolean;
  active: boolean;
  maxMemKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: number;
}

export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainId {
  name: string;
  uuid: string;
}
export interface LifecycleEventInfo {
  domain: DomainId;
  event: LifecycleEvent;
  /** e.g. "booted", "migrated", "destroyed"; "unknown" for details newer than this code. */
  detail: string;
  eventCode: number;
  detailCode: number;
}
export interface MigrationIterationEventInfo {
  domain: DomainId;
  iteration: number;
}
export interface JobCompletedEventInfo {
  domain: DomainId;
  stats: JobStats;
}

/** An operator changed the domain's title, description or a namespace's element (`virsh metadata`). */
export interface MetadataChangeEventInfo {
  domain: DomainId;
  type: MetadataType;
  /** The namespace of a changed element; null for title and description. */
  nsuri: string | null;
}

export type Unsubscribe = () => void;
export interface DomainEvents {
  onLifecycle(cb: (e: LifecycleEventInfo) => void): Unsubscribe;
  onMigrationIteration(cb: (e: MigrationIterationEventInfo) => void): Unsubscribe;
  onJobCompleted(cb: (e: JobCompletedEventInfo) => void): Unsubscribe;
  onMetadataChange(cb: (e: MetadataChangeEventInfo) => void): Unsubscribe;
}

export type CpuCompareResult = "incompatible" | "identical" | "superset" | "error";

export interface AllDomainStatsOptions {
  /** Only these domains (virDomainListGetStats); all domains otherwise. */
  domains?: Domain[];
  /** DomainStatsTypes bits; 0 (default) = every group the driver supports. */
  stats?: number;
  /** DomainStatsFlags bits (filters apply only without `domains`). */
  flags?: number;
}

let openConnections = 0;

function nonNegInt(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new LibvirtArgumentError(`${what} must be a non-negative integer (got ${JSON.stringify(v)})`);
  }
  return v;
}

/**
 * One libvirt connection. All calls run on worker threads; events arrive from libvirt's event
 * loop thread. Close it with close(); an unclosed connection does not keep the process alive.
 */
export class Connection {
  private ptr: number;
  private gen = 0;
  private closed = false;
  private readonly log: Logger;
  private readonly closeListeners = new Set<(reason: CloseReason) => void>();
  private readonly lifecycle = new Set<(e: LifecycleEventInfo) => void>();
  private readonly iteration = new Set<(e: MigrationIterationEventInfo) => void>();
  private readonly jobCompleted = new Set<(e: JobCompletedEventInfo) => void>();
  private readonly metadataChange = new Set<(e: MetadataChangeEventInfo) => void>();
  private readonly domainHost: DomainHost = {
    connPtr: () => this.live(),
    generation: () => this.gen,
  };

  private constructor(
    readonly uri: string,
    private readonly opts: OpenOptions,
    ptr: number,
  ) {
    this.ptr = ptr;
    this.log = opts.logger ?? silentLogger;
  }

  static async open(uri: string, opts: OpenOptions = {}): Promise<Connection> {
    if (typeof uri !== "string" || uri.length === 0) throw new LibvirtArgumentError("Connection.open: uri must be a non-empty string");
    if (opts.keepaliveIntervalS !== undefined && !Number.isInteger(opts.keepaliveIntervalS)) {
      throw new LibvirtArgumentError("Connection.open: keepaliveIntervalS must be an integer");
    }
    if (opts.keepaliveCount !== undefined) nonNegInt("Connection.open: keepaliveCount", opts.keepaliveCount);
    const ptr = await Connection.openPtr(uri, opts);
    const conn = new Connection(uri, opts, ptr);
    try {
      await eventLoop.watch(ptr, (e) => conn.onLoopEvent(ptr, e));
    } catch (e) {
      await Connection.closePtr(ptr);
      throw e;
    }
    return conn;
  }

  /** Opens a virConnectPtr with keepalive, holding one use of the event loop. */
  private static async openPtr(uri: string, opts: OpenOptions): Promise<number> {
    await eventLoop.acquire();
    openConnections++;
    let ptr = 0;
    try {
      ptr = await pool.call("connectOpen", uri, opts.readOnly === true);
      const interval = opts.keepaliveIntervalS ?? 5;
      try {
        await pool.call("connectSetKeepAlive", ptr, interval, opts.keepaliveCount ?? 6);
      } catch (e) {
        // Local drivers (test:///, qemu:///system in-process) have no keepalive: nothing to do.
        if (!(e instanceof LibvirtError && e.libvirtCode === ErrorCode.NO_SUPPORT)) throw e;
      }
      return ptr;
    } catch (e) {
      if (ptr !== 0) await pool.call("connectClose", ptr).catch(() => {});
      await Connection.releaseLoop();
      throw e;
    }
  }

  private static async closePtr(ptr: number): Promise<void> {
    await eventLoop.unwatch(ptr).catch(() => {});
    await pool.call("connectClose", ptr).catch(() => {});
    await Connection.releaseLoop();
  }

  private static async releaseLoop(): Promise<void> {
    openConnections--;
    await eventLoop.release();
    if (openConnections === 0) await pool.drain();
  }

  private live(): number {
    if (this.closed) throw new LibvirtStateError("connection-closed", `connection to ${this.uri} is closed`);
    return this.ptr;
  }

  /** Listens for the connection closing: "lost" when libvirt calls it dead (noticed within
   * half a second), "client" after close(). Returns the function that stops listening. */
  onClose(cb: (reason: CloseReason) => void): Unsubscribe {
    this.closeListeners.add(cb);
    return () => this.closeListeners.delete(cb);
  }

  /**
   * Replaces a dead connection with a fresh one to the same URI and options. Event listeners
   * stay subscribed; Domain objects look themselves up again on their next call.
   */
  async reconnect(): Promise<void> {
    this.live();
    const ptr = await Connection.openPtr(this.uri, this.opts);
    try {
      await eventLoop.watch(ptr, (e) => this.onLoopEvent(ptr, e));
    } catch (e) {
      await Connection.closePtr(ptr);
      throw e;
    }
    const old = this.ptr;
    this.ptr = ptr;
    this.gen++;
    await Connection.closePtr(old);
  }

  async isAlive(): Promise<boolean> {
    if (this.closed) return false;
    try {
      return await pool.call("connectIsAlive", this.ptr);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Connection.closePtr(this.ptr);
    this.emitClose("client");
  }

  async version(): Promise<{ libvirt: string; hypervisor: string; driver: string }> {
    return pool.call("version", this.live());
  }
  async hostname(): Promise<string> {
    return pool.call("hostname", this.live());
  }
  async nodeInfo(): Promise<NodeInfo> {
    return pool.call("nodeInfo", this.live());
  }
  async freeMemoryBytes(): Promise<number> {
    return pool.call("freeMemoryBytes", this.live());
  }
  async capabilities(): Promise<string> {
    return pool.call("capabilities", this.live());
  }
  /** virConnectCompareCPU of a <cpu> XML against this host. A libvirt failure (result -1)
   * rejects with the LibvirtError rather than resolving "error". */
  async compareCpu(xml: string, opts: { failIncompatible?: boolean } = {}): Promise<CpuCompareResult> {
    if (typeof xml !== "string" || xml.length === 0) throw new LibvirtArgumentError("compareCpu: xml must be a non-empty string");
    const r = await pool.call("compareCpu", this.live(), xml, opts.failIncompatible ? 1 : 0);
    return (["incompatible", "identical", "superset"] as const)[r] ?? "error";
  }

  /**
   * virConnectCompareHypervisorCPU: can the hypervisor behind this connection provide this <cpu>
   * for a guest of `virttype` ("kvm", or "qemu" for TCG) on `arch` (null: the host's)? Unlike
   * compareCpu it answers for what QEMU can give a guest, TCG included, not for the host CPU.
   */
  async compareHypervisorCpu(
    xml: string,
    opts: { virttype?: string; arch?: string; failIncompatible?: boolean } = {},
  ): Promise<CpuCompareResult> {
    if (typeof xml !== "string" || xml.length === 0) throw new LibvirtArgumentError("compareHypervisorCpu: xml must be a non-empty string");
    const r = await pool.call(
      "compareHypervisorCpu",
      this.live(),
      opts.virttype ?? null,
      opts.arch ?? null,
      xml,
      opts.failIncompatible ? 1 : 0,
    );
    return (["incompatible", "identical", "superset"] as const)[r] ?? "error";
  }

  /** Every domain, active and inactive. */
  async listDomains(): Promise<DomainInfo[]> {
    const raw = await pool.call("listDomains", this.live());
    return raw.map((d) => ({ ...d, state: domainStateName(d.state) }));
  }

  /** By name, or by UUID. Rejects with LibvirtError code 42 (NO_DOMAIN) when there is none. */
  async lookupDomain(nameOrUuid: string): Promise<Domain> {
    if (typeof nameOrUuid !== "string" || nameOrUuid.length === 0) {
      throw new LibvirtArgumentError("lookupDomain: name or uuid must be a non-empty string");
    }
    return new Domain(this.domainHost, await pool.call("lookupDomain", this.live(), nameOrUuid));
  }

  /** Defines (persistently) a domain from XML; does not start it. */
  async defineXml(xml: string): Promise<Domain> {
    if (typeof xml !== "string" || xml.length === 0) throw new LibvirtArgumentError("defineXml: xml must be a non-empty string");
    return new Domain(this.domainHost, await pool.call("defineXml", this.live(), xml));
  }

  /** getAllDomainStats, decoded. The default flags include NOWAIT, so a domain busy with a job
   * (a migration) reports what it can at once instead of stalling the call. */
  async allDomainStats(opts: AllDomainStatsOptions = {}): Promise<DomainStats[]> {
    const stats = nonNegInt("allDomainStats: stats", opts.stats ?? 0);
    const flags = opts.flags ?? DomainStatsFlags.NOWAIT;
    if (!Number.isInteger(flags) || flags < 0 || flags > 2 ** 32 - 1) throw new LibvirtArgumentError("allDomainStats: bad flags");
    const conn = this.live();
    if (opts.domains?.some((d) => !d.belongsTo(this.domainHost))) {
      throw new LibvirtArgumentError("allDomainStats: every domain must come from this connection");
    }
    const doms = opts.domains === undefined ? null : await Promise.all(opts.domains.map((d) => d.ptr()));
    if (doms !== null && doms.length === 0) return [];
    const raw = await pool.call("allDomainStats", conn, doms, stats, flags);
    return raw.map((r) => decodeDomainStats(r.name, r.uuid, r.params));
  }

  /**
   * Creates a disk image on this connection's host through its storage driver (a transient dir
   * pool when no pool holds the directory). Refuses a path where an image exists: never overwritten.
   */
  async createVolume(spec: VolumeSpec): Promise<void> {
    const { dir, name, xml } = volumeXml(spec);
    await pool.call("volumeCreate", this.live(), dir, name, xml);
  }

  /** Deletes a disk image on this connection's host; false when there was none. */
  async deleteVolume(path: string): Promise<boolean> {
    const { dir, name } = splitImagePath("volume path", path);
    return pool.call("volumeDelete", this.live(), dir, name);
  }

  events(): DomainEvents {
    return {
      onLifecycle: (cb) => this.onLifecycle(cb),
      onMigrationIteration: (cb) => this.onMigrationIteration(cb),
      onJobCompleted: (cb) => this.onJobCompleted(cb),
      onMetadataChange: (cb) => this.onMetadataChange(cb),
    };
  }
  /** Lifecycle events of every domain on this connection (registered at open, so no event is missed). */
  onLifecycle(cb: (e: LifecycleEventInfo) => void): Unsubscribe {
    this.lifecycle.add(cb);
    return () => this.lifecycle.delete(cb);
  }
  onMigrationIteration(cb: (e: MigrationIterationEventInfo) => void): Unsubscribe {
    this.iteration.add(cb);
    return () => this.iteration.delete(cb);
  }
  onJobCompleted(cb: (e: JobCompletedEventInfo) => void): Unsubscribe {
    this.jobCompleted.add(cb);
    return () => this.jobCompleted.delete(cb);
  }

  onMetadataChange(cb: (e: MetadataChangeEventInfo) => void): Unsubscribe {
    this.metadataChange.add(cb);
    return () => this.metadataChange.delete(cb);
  }

  private emit<T>(set: Set<(e: T) => void>, e: T, what: string): void {
    for (const cb of set) {
      try {
        cb(e);
      } catch (err) {
        this.log.error({ err, uri: this.uri, event: what }, "libvirt event listener threw");
      }
    }
  }

  private emitClose(reason: CloseReason): void {
    this.emit(this.closeListeners, reason, "close");
  }

  private onLoopEvent(ptr: number, e: LoopEvent): void {
    if (ptr !== this.ptr) return; // late event from a connection replaced by reconnect()
    switch (e.type) {
      case "lifecycle": {
        const event = LIFECYCLE_EVENTS[e.event] ?? "unknown";
        const detail = LIFECYCLE_DETAILS[event][e.detail] ?? "unknown";
        this.emit(
          this.lifecycle,
          { domain: { name: e.name, uuid: e.uuid }, event, detail, eventCode: e.event, detailCode: e.detail },
          "lifecycle",
        );
        break;
      }
      case "migration-iteration":
        this.emit(this.iteration, { domain: { name: e.name, uuid: e.uuid }, iteration: e.iteration }, "migration-iteration");
        break;
      case "job-completed":
        this.emit(this.jobCompleted, { domain: { name: e.name, uuid: e.uuid }, stats: decodeJobStats(3, e.params) }, "job-completed");
        break;
      case "metadata-change":
        this.emit(
          this.metadataChange,
          { domain: { name: e.name, uuid: e.uuid }, type: METADATA_TYPES[e.metadataType] ?? "element", nsuri: e.nsuri },
          "metadata-change",
        );
        break;
      case "close":
        this.log.warn({ uri: this.uri }, "libvirt connection lost");
        this.emitClose("lost");
        break;
    }
  }
}
