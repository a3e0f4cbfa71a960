import type { Logger, VmReport } from "@drover/protocol";
import { describeDomain, type DomainDescription } from "./domain-xml.js";
import type { DomainStats, HvConnection } from "./hypervisor.js";
import { RateTracker } from "./rates.js";
import type { Mount, StorageClassifier } from "./storage.js";

const XML_REFRESH_MS = 60_000;

interface CachedXml {
  desc: DomainDescription;
  atMs: number;
}

/**
 * Per-VM part of the report: libvirt's bulk stats for counters, the domain XML (cached, re-read
 * every minute) for disks, bridges and tags, rates from the previous sample.
 */
export class VmCollector {
  private readonly rates = new RateTracker();
  private readonly xml = new Map<string, CachedXml>();
  private lastDirtyCalcMs = 0;

  constructor(
    private readonly classifier: StorageClassifier,
    private readonly log: Logger,
    private readonly dirty: { enabled: boolean; everyMs: number; measureSeconds: number },
  ) {}

  /** Drops a VM's cached XML (lifecycle change, migration end). */
  invalidate(uuid?: string): void {
    if (uuid) this.xml.delete(uuid);
    else this.xml.clear();
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
      const dom = await conn.lookup(s.uuid);
      if (!dom) return c?.desc ?? null;
      try {
        const desc = describeDomain(await dom.xml(false));
        this.xml.set(s.uuid, { desc, atMs: now });
        return desc;
      } finally {
        dom.free();
      }
    } catch (e) {
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
        })),
      bridges: d?.bridges ?? [],
      tags: d?.tags ?? [],
      migrating,
    };
  }

  /** Starts a short dirty-rate measurement on each running VM every `everyMs`; results show up in later stats. */
  private maybeMeasureDirtyRate(conn: HvConnection, stats: readonly DomainStats[], migrating: ReadonlySet<string>, now: number): void {
    if (!this.dirty.enabled || now - this.lastDirtyCalcMs < this.dirty.everyMs) return;
    this.lastDirtyCalcMs = now;
    for (const s of stats) {
      if (s.state !== "running" || migrating.has(s.uuid)) continue;
      void (async () => {
        const dom = await conn.lookup(s.uuid);
        if (!dom) return;
        try {
          await dom.startDirtyRateCalc(this.dirty.measureSeconds);
        } finally {
          dom.free();
        }
      })().catch((e: unknown) => this.log.debug({ err: e, vm: s.name }, "dirty-rate measurement not started"));
    }
  }
}
