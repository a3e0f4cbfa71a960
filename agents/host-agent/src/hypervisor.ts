import type { VmState } from "@drover/protocol";

/**
 * What the agent needs from libvirt, in the agent's own terms. The only implementation is
 * libvirt-hypervisor.ts over @drover/libvirt; this seam keeps libvirt's raw shapes (typed params,
 * numeric states) out of the agent's logic.
 */
export interface DomainStats {
  uuid: string;
  name: string;
  state: VmState;
  vcpus: number;
  maxMemoryKiB: number;
  cpuTimeNs: bigint | null;
  /** Sum of vcpu.N.delay, ns. */
  vcpuDelayNs: bigint | null;
  balloonCurrentKiB: number | null;
  balloonUnusedKiB: number | null;
  balloonRssKiB: number | null;
  /** Last dirty-rate measurement (dirtyrate.megabytes_per_second) when one completed. */
  dirtyRateMiBs: number | null;
  /** Sizes of the disks libvirt measured (block.N.*), by target. */
  disks: DiskSize[];
}

export interface DiskSize {
  target: string;
  capacityBytes: number | null;
  allocationBytes: number | null;
}

/** A disk image to create on a host (copy-storage: the destination's copy before the move). */
export interface ImageSpec {
  path: string;
  capacityBytes: number;
  format: string;
  backing?: { path: string; format: string };
}

export interface JobStats {
  /** none, bounded, unbounded, completed, failed, cancelled */
  type: string;
  elapsedMs: number | null;
  dataTotal: number;
  dataProcessed: number;
  dataRemaining: number;
  memoryIteration: number;
  /** Bytes per second the guest dirties (memory_dirty_rate x page size). */
  memDirtyRateBps: number | null;
  memBps: number | null;
  expectedDowntimeMs: number | null;
  /** Actual downtime of a completed migration. */
  downtimeMs: number | null;
  autoConvergeThrottle: number | null;
  memoryPostcopyRequests: number | null;
}

export interface MigrateParams {
  destinationUri?: string;
  bandwidthMiBs?: number;
  /** The cap of post-copy's background copy (QEMU leaves it unlimited unless told). */
  bandwidthPostcopyMiBs?: number;
  maxDowntimeMs?: number;
  autoConvergeInitial?: number;
  autoConvergeIncrement?: number;
  /** Copy-storage: the disks (targets) to copy; the others are shared. */
  migrateDisks?: string[];
}

export interface HvDomain {
  readonly uuid: string;
  readonly name: string;
  xml(migratable?: boolean): Promise<string>;
  state(): Promise<VmState>;
  memoryKiB(): Promise<number>;
  /** Resolves when the migration ends; rejects with the libvirt error when it fails. */
  migrate(destUri: string, params: MigrateParams, flags: number): Promise<void>;
  jobStats(completed?: boolean): Promise<JobStats | null>;
  abortJob(): Promise<void>;
  setMaxDowntimeMs(ms: number): Promise<void>;
  suspend(): Promise<void>;
  resume(): Promise<void>;
  /** Removes the persistent definition (an inactive domain is gone after it). */
  undefine(): Promise<void>;
  startPostCopy(): Promise<void>;
  /**
   * Paused as the source of a move in its post-copy phase, running or broken (libvirt's reason for
   * the pause): the guest runs on the destination, and this copy's memory lacks what it writes there.
   */
  pausedForPostCopy(): Promise<boolean>;
  startDirtyRateCalc(seconds: number): Promise<void>;
  /** Disk sizes as libvirt measures them now. */
  diskSizes(): Promise<DiskSize[]>;
  free(): void;
}

export interface NodeInfo {
  cpus: number;
  mhz: number;
  memoryKiB: number;
  model: string;
}

export interface HvConnection {
  readonly uri: string;
  version(): Promise<string>;
  /** libvirt's version and the hypervisor's (QEMU's), as dotted strings. */
  versions(): Promise<{ libvirt: string; qemu: string }>;
  nodeInfo(): Promise<NodeInfo>;
  freeMemoryBytes(): Promise<number>;
  capabilities(): Promise<string>;
  /** libvirt's virCPUCompareResult: -1 error, 0 incompatible, 1 identical, 2 superset. */
  compareCpu(xml: string): Promise<number>;
  /** Same scale, for what the hypervisor can give a guest of `virttype` ("kvm", "qemu" = TCG): virConnectCompareHypervisorCPU. */
  compareHypervisorCpu(xml: string, virttype: string): Promise<number>;
  domainStats(): Promise<DomainStats[]>;
  /** null when no such domain. */
  lookup(nameOrUuid: string): Promise<HvDomain | null>;
  /** Creates a disk image on this connection's host (refused where one exists). */
  createImage(spec: ImageSpec): Promise<void>;
  /** Removes a disk image from this connection's host; false when there was none. */
  deleteImage(path: string): Promise<boolean>;
  isAlive(): boolean;
  /** Called when a domain's metadata element of namespace `nsuri` changed (`virsh metadata`); nsuri null for title/description. */
  onMetadataChange(cb: (uuid: string, nsuri: string | null) => void): void;
  /** Called once when libvirtd closes the connection (restart, crash, keepalive timeout). */
  onClose(cb: (reason: string) => void): void;
  close(): Promise<void>;
}

export interface Hypervisor {
  open(uri: string): Promise<HvConnection>;
  /** Flag values of virDomainMigrateFlags. */
  readonly flags: {
    LIVE: number;
    PEER2PEER: number;
    PERSIST_DEST: number;
    UNDEFINE_SOURCE: number;
    NON_SHARED_DISK: number;
    NON_SHARED_INC: number;
    PAUSED: number;
    UNSAFE: number;
    OFFLINE: number;
    AUTO_CONVERGE: number;
    POSTCOPY: number;
    ABORT_ON_ERROR: number;
    TLS: number;
  };
  /** Stops libvirt's event loop: the process cannot exit while it runs. */
  shutdown(): Promise<void>;
}
