import type { Logger, VmReport } from "@drover/protocol";
import { describeDomain, type DomainDescription } from "./domain-xml.js";
import type { DomainStats, HvConnection, HvDomain } from "./hypervisor.js";
import { RateTracker } from "./rates.js";
import type { Mount, StorageClassifier } from "./storage.js";

/**
 * Domain XML changes rarely, and this agent invalidates it on migrations and on libvirt's
 * metadata-change event (an operator's `virsh metadata`): re-read every 5 min in case an event was missed.
 */
const XML_REFRESH_MS = 300_000;

interface CachedXml {
  desc: DomainDescription;
  atMs: number;
}

/**
 * Per-VM part of the report: libvirt's bulk stats for counters, the domain XML (cached, re-read
 * when invalidated or every 5 min) for disks, bridges, tags and rules, rates from the previous sample.
 */
export class VmCollector {
  private readonly rates = new RateTracker();
  private readonly xml = new Map<string, CachedXml>();
  private lastDirtyCalcMs = 0;
  private dirtyRunning = false;
  /** Domain handles by uuid, so periodic work needs no lookup per VM. */
  private readonly handles = new Map<string, { conn: HvConnection; dom: HvDomain }>();

  constructor(
    private readonly classifier: StorageClassifier,
    private readonly log: Logger,
    private readonly dirty: { enabled: boolean; everyMs: number; measureSeconds: number },
  ) {}

  /** Drops a VM's cached XML (migration end, metadata change). */
  invalidate(uuid?: string): void {
    if (uuid) {
      this.xml.delete(uuid);
      this.dropHandle(uuid);
    } else {
      this.xml.clear();
      for (const k of [...this.handles.keys()]) this.dropHandle(k);
    }
  }

  private dropHandle(uuid: string): void {
    const h = this.handles.get(uuid);
    if (!h) return;
    this.handles.delete(uuid);
    h.dom.free();
  }

  /** A cached handle on this connection (a new connection after a libvirtd restart gets new ones). */
  private async handle(conn: HvConnection, uuid: string): Promise<HvDomain | null> {
    const h = this.handles.get(uuid);
    if (h && h.conn === conn) return h.dom;
    if (h) this.dropHandle(uuid);
    const dom = await conn.lookup(uuid);
    if (dom) this.handles.set(uuid, { conn, dom });
    return dom;
  }

  async collect(conn: HvConnection, mounts: readonly Mount[], migrating: ReadonlySet<string>): Promise<VmReport[]> {
    const stats = await conn.domainStats();
    const now = Date.now();
    const atNs = process.hrtime.bigint();
    const rates = this.rates.update(
      stats.map((s) => ({ uuid: s.uuid, atNs, cpuTimeNs: s.cpuTimeNs, vcpuDelayNs: s.vcpuDelayNs, vcpus: s.vcpus })),
    );
    const present = new Set(stats.map((s) => s.uuid));
    for (const k of this.xml.keys()) if (!present.has(k)) this.xml.delete(k);
    for (const k of [...this.handles.keys()]) if (!present.has(k)) this.dropHandle(k);
    const out: VmReport[] = [];
    for (const s of stats) {
      const desc = await this.description(conn, s, now);
      const r = rates.get(s.uuid);
      out.push(this.vmReport(s, desc, r?.cpuUsedVcpus ?? 0, r?.vcpuWaitFraction ?? 0, mounts, migrating.has(s.uuid)));
    }
    this.maybeMeasureDirtyRate(conn, stats, migrating, now);
    return out;
  }

  private async description(conn: HvConnection, s: DomainStats, now: number): Promise<DomainDescription | null> {
    const c = this.xml.get(s.uuid);
    if (c && now - c.atMs < XML_REFRESH_MS) return c.desc;
    try {
      const dom = await this.handle(conn, s.uuid);
      if (!dom) return c?.desc ?? null;
      const desc = describeDomain(await dom.xml(false));
      this.xml.set(s.uuid, { desc, atMs: now });
      return desc;
    } catch (e) {
      this.dropHandle(s.uuid);
      this.log.debug({ err: e, vm: s.name }, "domain XML unavailable; reporting without disks/bridges/tags");
      return c?.desc ?? null;
    }
  }

  private vmReport(
    s: DomainStats,
    d: DomainDescription | null,
    cpu: number,
    wait: number,
    mounts: readonly Mount[],
    migrating: boolean,
  ): VmReport {
    const KiB = 1024;
    const sizes = new Map(s.disks.map((k) => [k.target, k]));
    const memUsedKiB =
      s.balloonCurrentKiB !== null && s.balloonUnusedKiB !== null
        ? s.balloonCurrentKiB - s.balloonUnusedKiB
        : (s.balloonRssKiB ?? s.balloonCurrentKiB ?? s.maxMemoryKiB);
    return {
      uuid: s.uuid,
      name: s.name,
      state: s.state,
      vcpus: Math.max(1, s.vcpus),
      memoryMiB: Math.round(s.maxMemoryKiB / KiB),
      cpuUsedVcpus: cpu,
      memoryUsedMiB: Math.max(0, Math.round(memUsedKiB / KiB)),
      vcpuWaitFraction: wait,
      dirtyRateMiBs: s.dirtyRateMiBs,
      disks: (d?.disks ?? [])
        .filter((k) => k.device === "disk" || k.device === "lun" || k.path !== null)
        .map((k) => ({
          target: k.target || "?",
          path: k.path,
          cacheMode: k.cacheMode,
          shared: k.network || (k.local && k.path !== null && this.classifier.isShared(k.path, mounts)),
          readOnly: k.readOnly,
          network: k.network,
          format: k.format,
          capacityBytes: sizes.get(k.target)?.capacityBytes ?? null,
          allocationBytes: sizes.get(k.target)?.allocationBytes ?? null,
          backingChain: k.backing !== null,
        })),
      bridges: d?.bridges ?? [],
      tags: d?.tags ?? [],
      ...(d?.rules ? { rules: d.rules } : {}),
      ...(d?.rulesProblem ? { rulesProblem: d.rulesProblem } : {}),
      migrating,
    };
  }

  /**
   * Starts a short dirty-rate measurement on each running VM every `everyMs`; results show up in
   * later stats. One VM at a time, in the background: concurrent calls would make the libvirt
   * binding start extra worker threads (tens of MB and a second of CPU each).
   */
  private maybeMeasureDirtyRate(conn: HvConnection, stats: readonly DomainStats[], migrating: ReadonlySet<string>, now: number): void {
    if (!this.dirty.enabled || this.dirtyRunning || now - this.lastDirtyCalcMs < this.dirty.everyMs) return;
    this.lastDirtyCalcMs = now;
    this.dirtyRunning = true;
    const targets = stats.filter((s) => s.state === "running" && !migrating.has(s.uuid));
    void (async () => {
      for (const s of targets) {
        try {
          const dom = await this.handle(conn, s.uuid);
          await dom?.startDirtyRateCalc(this.dirty.measureSeconds);
        } catch (e) {
          this.log.debug({ err: e, vm: s.name }, "dirty-rate measurement not started");
        }
      }
    })().finally(() => {
      this.dirtyRunning = false;
    });
  }
}
