import {
  Connection,
  DomainPausedReason,
  DomainStatsFlags,
  DomainStatsTypes,
  ErrorCode,
  LibvirtError,
  MigrateFlags,
  type Domain,
  type DomainState,
  type DomainStats,
  type JobStats as LvJobStats,
} from "@drover/libvirt";
import type { Logger, VmState } from "@drover/protocol";
import type {
  DiskSize,
  ImageSpec,
  DomainStats as HvDomainStats,
  HvConnection,
  HvDomain,
  Hypervisor,
  JobStats,
  MigrateParams,
  NodeInfo,
} from "./hypervisor.js";

const STATE: Record<DomainState, VmState> = {
  nostate: "other",
  running: "running",
  blocked: "blocked",
  paused: "paused",
  shutdown: "shutting-down",
  shutoff: "shut-off",
  crashed: "crashed",
  pmsuspended: "suspended",
  unknown: "other",
};

const STATS_GROUPS =
  DomainStatsTypes.STATE |
  DomainStatsTypes.CPU_TOTAL |
  DomainStatsTypes.BALLOON |
  DomainStatsTypes.VCPU |
  DomainStatsTypes.DIRTYRATE |
  DomainStatsTypes.BLOCK;

/**
 * Each disk's sizes (without VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING, block.N is the top layer of
 * disk N; its backingIndex names the layer, it does not mark one). What the image holds on the host
 * is `physical` (a running guest's `allocation` is QEMU's highest written offset, 0 for a disk it
 * has not written).
 */
function diskSizesOf(block: DomainStats["block"]): DiskSize[] {
  return block
    .filter((b) => b.name !== undefined)
    .map((b) => ({ target: b.name as string, capacityBytes: b.capacity ?? null, allocationBytes: b.physical ?? b.allocation ?? null }));
}

function jobStatsOf(j: LvJobStats): JobStats {
  const page = j.memPageSize ?? 4096;
  return {
    type: j.type,
    elapsedMs: j.timeElapsedMs ?? null,
    dataTotal: j.dataTotal ?? j.memTotal ?? 0,
    dataProcessed: j.dataProcessed ?? j.memProcessed ?? 0,
    dataRemaining: j.dataRemaining ?? j.memRemaining ?? 0,
    memoryIteration: j.memIteration ?? 0,
    memDirtyRateBps: j.memDirtyRate !== undefined ? j.memDirtyRate * page : null,
    memBps: j.memBps ?? null,
    expectedDowntimeMs: j.type === "completed" ? null : (j.downtimeMs ?? null),
    downtimeMs: j.type === "completed" ? (j.downtimeMs ?? null) : null,
    autoConvergeThrottle: j.autoConvergeThrottle ?? null,
    memoryPostcopyRequests: j.memPostcopyRequests ?? null,
  };
}

class LvDomain implements HvDomain {
  constructor(private readonly d: Domain) {}
  get uuid(): string {
    return this.d.uuid.toLowerCase();
  }
  get name(): string {
    return this.d.name;
  }
  xml(migratable = false): Promise<string> {
    return this.d.xml({ migratable });
  }
  async state(): Promise<VmState> {
    return STATE[(await this.d.info()).state];
  }
  async memoryKiB(): Promise<number> {
    return (await this.d.info()).maxMemKiB;
  }
  migrate(destUri: string, p: MigrateParams, flags: number): Promise<void> {
    const params: Parameters<Domain["migrateToUri3"]>[1] = {};
    // libvirt takes whole MiB/s; never round a limit down to "unlimited" (0).
    if (p.bandwidthMiBs !== undefined) params.bandwidthMiBs = Math.max(1, Math.ceil(p.bandwidthMiBs));
    if (p.bandwidthPostcopyMiBs !== undefined) params.bandwidthPostcopyMiBs = Math.max(1, Math.ceil(p.bandwidthPostcopyMiBs));
    if (p.autoConvergeInitial !== undefined) params.autoConvergeInitial = p.autoConvergeInitial;
    if (p.autoConvergeIncrement !== undefined) params.autoConvergeIncrement = p.autoConvergeIncrement;
    if (p.migrateDisks !== undefined) params.migrateDisks = p.migrateDisks;
    return this.d.migrateToUri3(destUri, params, flags);
  }
  async jobStats(completed = false): Promise<JobStats | null> {
    const j = await this.d.jobStats({ completed });
    return j.type === "none" ? null : jobStatsOf(j);
  }
  abortJob(): Promise<void> {
    return this.d.abortJob();
  }
  setMaxDowntimeMs(ms: number): Promise<void> {
    return this.d.setMaxDowntimeMs(Math.round(ms));
  }
  suspend(): Promise<void> {
    return this.d.suspend();
  }
  resume(): Promise<void> {
    return this.d.resume();
  }
  undefine(): Promise<void> {
    return this.d.undefine();
  }
  startPostCopy(): Promise<void> {
    return this.d.startPostCopy();
  }
  async pausedForPostCopy(): Promise<boolean> {
    const i = await this.d.info();
    return i.state === "paused" && (i.reason === DomainPausedReason.POSTCOPY || i.reason === DomainPausedReason.POSTCOPY_FAILED);
  }
  startDirtyRateCalc(seconds: number): Promise<void> {
    return this.d.startDirtyRateCalc(seconds);
  }
  async diskSizes(): Promise<DiskSize[]> {
    // Waits for the domain (no NOWAIT): a running guest's capacity comes from QEMU, and with NOWAIT a
    // domain busy with another query (the report's own stats, a dirty-rate job) gives none.
    return diskSizesOf((await this.d.stats(DomainStatsTypes.BLOCK, 0)).block);
  }
  free(): void {
    this.d.free();
  }
}

const compareResult = (r: string): number => (r === "incompatible" ? 0 : r === "identical" ? 1 : r === "superset" ? 2 : -1);

class LvConnection implements HvConnection {
  private alive = true;
  constructor(private readonly c: Connection) {
    c.onClose(() => {
      this.alive = false;
    });
  }
  get uri(): string {
    return this.c.uri;
  }
  async version(): Promise<string> {
    return (await this.c.version()).libvirt;
  }
  async versions(): Promise<{ libvirt: string; qemu: string }> {
    const v = await this.c.version();
    return { libvirt: v.libvirt, qemu: v.hypervisor };
  }
  async nodeInfo(): Promise<NodeInfo> {
    const n = await this.c.nodeInfo();
    return { cpus: n.cpus, mhz: n.mhz, memoryKiB: n.memoryKiB, model: n.model };
  }
  freeMemoryBytes(): Promise<number> {
    return this.c.freeMemoryBytes();
  }
  capabilities(): Promise<string> {
    return this.c.capabilities();
  }
  async compareCpu(xml: string): Promise<number> {
    return compareResult(await this.c.compareCpu(xml));
  }
  async compareHypervisorCpu(xml: string, virttype: string): Promise<number> {
    return compareResult(await this.c.compareHypervisorCpu(xml, { virttype }));
  }
  async domainStats(): Promise<HvDomainStats[]> {
    // One bulk RPC for every domain (active and inactive): listDomains would cost several RPCs
    // per domain. Only if a domain lacks its memory size there, ask listDomains for it.
    const stats = await this.c.allDomainStats({ stats: STATS_GROUPS, flags: DomainStatsFlags.NOWAIT });
    let info: Map<string, { maxMemKiB: number; vcpus: number }> | null = null;
    if (stats.some((s) => s.balloon?.maximumKiB === undefined || s.vcpuCount?.current === undefined)) {
      info = new Map((await this.c.listDomains()).map((d) => [d.uuid.toLowerCase(), { maxMemKiB: d.maxMemKiB, vcpus: d.vcpus }]));
    }
    return stats.map((s) => {
      const uuid = s.uuid.toLowerCase();
      const delays = s.vcpu.map((v) => v.delayNs).filter((x): x is number => x !== undefined);
      const dirty = s.dirtyRate;
      return {
        uuid,
        name: s.name,
        state: STATE[s.state?.state ?? "unknown"],
        vcpus: s.vcpuCount?.current ?? info?.get(uuid)?.vcpus ?? 1,
        maxMemoryKiB: s.balloon?.maximumKiB ?? info?.get(uuid)?.maxMemKiB ?? 0,
        cpuTimeNs: s.cpu?.timeNs !== undefined ? BigInt(Math.round(s.cpu.timeNs)) : null,
        vcpuDelayNs: delays.length ? BigInt(Math.round(delays.reduce((a, b) => a + b, 0))) : null,
        balloonCurrentKiB: s.balloon?.currentKiB ?? null,
        balloonUnusedKiB: s.balloon?.unusedKiB ?? null,
        balloonRssKiB: s.balloon?.rssKiB ?? null,
        dirtyRateMiBs: dirty?.status === "measured" && dirty.mibPerS !== undefined ? dirty.mibPerS : null,
        disks: diskSizesOf(s.block),
      };
    });
  }
  async lookup(nameOrUuid: string): Promise<HvDomain | null> {
    try {
      return new LvDomain(await this.c.lookupDomain(nameOrUuid));
    } catch (e) {
      if (e instanceof LibvirtError && e.libvirtCode === ErrorCode.NO_DOMAIN) return null;
      throw e;
    }
  }
  createImage(spec: ImageSpec): Promise<void> {
    return this.c.createVolume(spec);
  }
  deleteImage(path: string): Promise<boolean> {
    return this.c.deleteVolume(path);
  }
  isAlive(): boolean {
    return this.alive;
  }
  onMetadataChange(cb: (uuid: string, nsuri: string | null) => void): void {
    this.c.onMetadataChange((e) => cb(e.domain.uuid.toLowerCase(), e.nsuri));
  }
  onClose(cb: (reason: string) => void): void {
    this.c.onClose((r) => {
      if (r !== "client") cb(r);
    });
  }
  async close(): Promise<void> {
    this.alive = false;
    await this.c.close();
  }
}

/** The agent's Hypervisor over @drover/libvirt. */
export function libvirtHypervisor(logger: Logger): Hypervisor {
  return {
    async open(uri: string): Promise<HvConnection> {
      // Keepalive 2 s x 3: a dead libvirtd is noticed within ~6 s even without a failing call.
      return new LvConnection(await Connection.open(uri, { logger, keepaliveIntervalS: 2, keepaliveCount: 3 }));
    },
    flags: MigrateFlags,
    // The event loop stops by itself when the last connection closes.
    async shutdown(): Promise<void> {},
  };
}
