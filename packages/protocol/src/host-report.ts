import { z } from "zod";
import { ClusterName, EpochMs, Fraction, HostId, NonNeg, PROTOCOL_VERSION, Uuid, VmUuid } from "./common.js";

/**
 * Upper bounds of one host report, so that a report (valid or forged) cannot make the scheduler
 * hold an unbounded picture. Generous: far above any real host (1,000 guests on one host, 256
 * disks and 64 NICs per guest), well below what would hurt the scheduler. The byte size of a
 * whole report is bounded separately by the receiver (`reports.maxBytes`) and the NATS server's
 * max_payload.
 */
export const HostReportLimits = {
  vms: 1000,
  disksPerVm: 256,
  bridgesPerVm: 64,
  tagsPerVm: 64,
  /** Every real mount of the host counts (container hosts have many). */
  storageMounts: 4096,
  hostBridges: 1024,
  wakeMethods: 8,
  /** Names, tags, versions, CPU models, error codes. */
  nameChars: 256,
  /** Paths (PATH_MAX), URIs. */
  textChars: 4096,
  /** libvirt's last error message. */
  messageChars: 16_384,
  /** No real host has more CPUs than this (today's largest have a few thousand threads). */
  cpus: 65_536,
  /** CPU feature names of one host (x86 hosts list about 100). */
  cpuFeatures: 1024,
} as const;

const L = HostReportLimits;
const name = (min = 0) => z.string().min(min).max(L.nameChars);
const text = (min = 0) => z.string().min(min).max(L.textChars);

export const VmStates = ["running", "paused", "shut-off", "crashed", "suspended", "blocked", "shutting-down", "other"] as const;
export const VmState = z.enum(VmStates);
export type VmState = z.infer<typeof VmState>;

/** Disk cache modes as libvirt spells them; live migration wants `none`. */
export const CacheMode = z.enum(["none", "writethrough", "writeback", "directsync", "unsafe", "default"]);

export const DiskReport = z.object({
  target: name(1),
  /** Image path or network source; null for an empty drive. */
  path: text().nullable(),
  cacheMode: CacheMode,
  /** On a filesystem the agent classifies as shared (NFS, Ceph, GlusterFS, ...). */
  shared: z.boolean(),
  readOnly: z.boolean().default(false),
  // Storage facts a copy-storage move needs (absent from older agents).
  /** A network source (rbd, iscsi, ...): the same for every host, never copied. */
  network: z.boolean().optional(),
  /** Image format as the domain's driver names it (qcow2, raw, ...). */
  format: name().nullable().optional(),
  /** Virtual size the guest sees (block.N.capacity); null until measured. */
  capacityBytes: NonNeg.nullable().optional(),
  /** Bytes the image holds on its host (block.N.allocation): what a copy moves. */
  allocationBytes: NonNeg.nullable().optional(),
  /** The image has a backing chain (copied incrementally: only the top layer moves). */
  backingChain: z.boolean().optional(),
});
export type DiskReport = z.infer<typeof DiskReport>;

/**
 * Per-VM rules and settings an operator writes into the domain's Drover metadata (the agent reads
 * `<drover:rules>`, see agents/host-agent/README.md "Rules in libvirt metadata"). The scheduler
 * merges them with its YAML rules (scheduler/src/rules/).
 */
export const VmMetadataRules = z
  .object({
    /** Never migrate this VM. */
    pinned: z.boolean().default(false),
    /** Post-copy may finish this VM's migration (also needs the planner's `migration.allowPostCopy`). */
    postCopy: z.boolean().default(false),
    /** Higher first when the operator reads what to look after; 0 unless set. */
    priority: z.number().int().min(-1000).max(1000).default(0),
    /** Affinity (together) and anti-affinity (apart) groups, hard unless `hard` is false. */
    groups: z
      .array(z.object({ kind: z.enum(["affinity", "anti-affinity"]), group: name(1), hard: z.boolean() }).strict())
      .max(L.tagsPerVm)
      .default([]),
    /** Host rules: on (must/should) or off (must-not/should-not) these hosts. */
    hosts: z
      .array(
        z.object({ mode: z.enum(["must", "should", "must-not", "should-not"]), hosts: z.array(HostId).min(1).max(L.tagsPerVm) }).strict(),
      )
      .max(4)
      .default([]),
  })
  .strict();
export type VmMetadataRules = z.output<typeof VmMetadataRules>;

export const VmReport = z.object({
  uuid: VmUuid,
  name: name(1),
  state: VmState,
  vcpus: z.number().int().positive(),
  memoryMiB: NonNeg,
  /** CPU used, in vCPUs (0.5 = half of one vCPU busy), averaged since the previous report. */
  cpuUsedVcpus: NonNeg,
  /** Guest memory in use (balloon "actual - unused", else RSS), MiB. */
  memoryUsedMiB: NonNeg,
  /** Share of time vCPUs were runnable but waiting for a host CPU (sum of vcpu.N.delay). */
  vcpuWaitFraction: NonNeg,
  /** Measured by virDomainStartDirtyRateCalc; null until measured. */
  dirtyRateMiBs: NonNeg.nullable(),
  disks: z.array(DiskReport).max(L.disksPerVm),
  bridges: z.array(name()).max(L.bridgesPerVm),
  /** The operator's rule tags, from the domain's Drover metadata. */
  tags: z.array(name()).max(L.tagsPerVm),
  /** The domain's `<drover:rules>` as validated by the agent; absent when it has none (or they are invalid). */
  rules: VmMetadataRules.optional(),
  /** What is wrong with the domain's Drover metadata, when the agent could not use it (the rest of the report stands). */
  rulesProblem: text(1).optional(),
  /** A migration of this VM is running on this host (out or in). */
  migrating: z.boolean().default(false),
});
export type VmReport = z.infer<typeof VmReport>;

export const LibvirtHealth = z.object({
  reachable: z.boolean(),
  uri: text(),
  version: name().nullable(),
  /** Latency of a cheap call (virConnectGetVersion-like) in ms; null when unreachable. */
  latencyMs: NonNeg.nullable(),
  lastError: z.object({ code: name(1), message: z.string().max(L.messageChars), atMs: EpochMs }).nullable(),
  /** Since when `reachable` has had its current value. */
  sinceMs: EpochMs,
});
export type LibvirtHealth = z.infer<typeof LibvirtHealth>;

export const Pressure = z.object({
  cpuSome10: NonNeg.nullable(),
  memorySome10: NonNeg.nullable(),
  memoryFull10: NonNeg.nullable(),
  ioSome10: NonNeg.nullable(),
});

export const StorageMount = z.object({
  path: text(1),
  fsType: name(),
  shared: z.boolean(),
  source: text().optional(),
  /**
   * A local mount's space (statfs: what an unprivileged writer may use, and the whole), for a
   * copy-storage move's preflight; absent for shared mounts and from older agents.
   */
  freeBytes: NonNeg.optional(),
  sizeBytes: NonNeg.optional(),
});
export type StorageMount = z.infer<typeof StorageMount>;

export const WakeMethod = z.discriminatedUnion("method", [
  z.object({
    method: z.literal("wol"),
    mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, "must be a MAC like 02:00:00:00:00:01"),
    /** Unicast address the magic packet is sent to (never a broadcast in the lab). */
    address: name(1),
    port: z.number().int().min(1).max(65535).default(9),
  }),
  z.object({
    method: z.literal("ipmi"),
    address: name(1),
    user: name().optional(),
    /** Name of a secret the scheduler resolves; passwords never travel in reports. */
    passwordRef: name().optional(),
  }),
]);
export type WakeMethod = z.infer<typeof WakeMethod>;

/**
 * The files QEMU's TLS credentials read from libvirt's `migrate_tls_x509_cert_dir` (QEMU's
 * tls-creds-x509 names). The destination of a TLS migration uses the CA and the server pair, the
 * source the CA and the client pair; a host can be either, so it needs all five.
 */
export const MIGRATION_TLS_FILES = ["ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"] as const;

/** A host's migration transport security, as its agent sees it. */
export const MigrationTlsReport = z.object({
  /** The agent migrates with VIR_MIGRATE_TLS (its config `migration.tls`). */
  enabled: z.boolean(),
  /** With `enabled`: what is missing or wrong in the host's cert dir, null when all is in order. */
  problem: z.string().max(L.messageChars).nullable(),
});
export type MigrationTlsReport = z.infer<typeof MigrationTlsReport>;

const Port = z.number().int().min(1).max(65535);

/**
 * What a destination must match for a guest to move to it (preflight, placement): the versions of
 * libvirt and of the hypervisor behind it, and the host CPU as libvirt's capabilities describe it.
 */
export const HypervisorFacts = z.object({
  /** virConnectGetLibVersion, e.g. "9.0.0". */
  libvirt: name(1),
  /** virConnectGetVersion: QEMU's version for the qemu driver, e.g. "7.2.22". */
  qemu: name(1),
  /** capabilities `<host><cpu>`: a host-passthrough guest moves only between hosts where these are equal. */
  cpu: z.object({
    arch: name(),
    model: name(),
    vendor: name(),
    features: z.array(name()).max(L.cpuFeatures),
  }),
});
export type HypervisorFacts = z.infer<typeof HypervisorFacts>;

/**
 * The ports an incoming migration's QEMU listens on (libvirt's migration_port_min/max), and the
 * one of them the agent keeps a listener on so that a peer can probe the range for a listener.
 */
export const MigrationPortsReport = z
  .object({ min: Port, max: Port, listener: Port })
  .refine((p) => p.min <= p.max && p.listener >= p.min && p.listener <= p.max, {
    message: "must have min <= listener <= max",
    path: ["listener"],
  });
export type MigrationPortsReport = z.infer<typeof MigrationPortsReport>;

export const HostReport = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cluster: ClusterName,
  host: HostId,
  /** Increases by one per report from one agent process; restarts at 0 with the agent. */
  seq: z.number().int().nonnegative(),
  timeMs: EpochMs,
  intervalMs: z.number().int().positive(),
  agentVersion: name(),
  capacity: z.object({
    cpus: z.number().int().positive().max(L.cpus),
    mhz: z.number().positive(),
    memoryMiB: z.number().positive(),
    cpuModel: name(),
  }),
  usage: z.object({
    /** Host CPU busy, 0..1 of all CPUs. */
    cpuFraction: Fraction,
    memoryUsedMiB: NonNeg,
    memoryAvailableMiB: NonNeg,
    load1: NonNeg,
    load5: NonNeg,
    load15: NonNeg,
    /** /proc/pressure averages over 10 s, where the kernel provides them. */
    pressure: Pressure.nullable(),
  }),
  libvirt: LibvirtHealth,
  /** Where peers reach this host's libvirtd for p2p migration, e.g. qemu+tcp://127.0.1.2/system. */
  migrationUri: text(1),
  /** libvirtd's host UUID (capabilities `<host><uuid>`); a command's destination must name the same. Absent from old agents. */
  hostUuid: Uuid.optional(),
  /** Optional: agents older than it do not send it (preflight then cannot verify this host for TLS). */
  migrationTls: MigrationTlsReport.optional(),
  /** Optional: agents older than them do not send them (preflight then asks the destination's libvirtd itself). */
  hypervisor: HypervisorFacts.optional(),
  migrationPorts: MigrationPortsReport.optional(),
  storage: z.array(StorageMount).max(L.storageMounts),
  bridges: z.array(name()).max(L.hostBridges),
  power: z.object({
    canPowerOff: z.boolean(),
    wake: z.array(WakeMethod).max(L.wakeMethods),
  }),
  vms: z.array(VmReport).max(L.vms),
});
export type HostReport = z.infer<typeof HostReport>;

/**
 * The part of a destination's report its source's preflight reads; the scheduler sends the one it
 * holds in the preflight command, so the source need not wait for a report of its own.
 */
export const DestinationFacts = HostReport.pick({
  cluster: true,
  host: true,
  timeMs: true,
  migrationUri: true,
  hostUuid: true,
  migrationTls: true,
  hypervisor: true,
  migrationPorts: true,
  storage: true,
  bridges: true,
});
export type DestinationFacts = z.infer<typeof DestinationFacts>;
export type HostReportInput = z.input<typeof HostReport>;
