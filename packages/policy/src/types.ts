// The snapshot (what the scheduler knows) and the plan (what a policy proposes).
//
// Units are in the names. CPU demand is in MHz, directly: a VM's CPU demand sample is the MHz it
// used (vCPU busy fraction × vCPUs × MHz of the host it ran on, computed by whoever builds the
// snapshot), so demands add up on any host and compare with `cpuCapacityMhz` without knowing
// where the sample was taken. Memory is in MiB, rates in bytes per second, times in ms.
// Histories are oldest first, one sample per `config.sampleIntervalMs`; the last is the newest.

import type { ClusterConfigInput } from "./config.js";

export const HostState = {
  healthy: "healthy",
  draining: "draining",
  maintenance: "maintenance",
  standby: "standby",
  waking: "waking",
  unreachable: "unreachable",
} as const;
export type HostState = (typeof HostState)[keyof typeof HostState];

export interface HostPower {
  /** The host can be powered off (and is allowed to be) by Drover. */
  readonly canPowerOff: boolean;
  /** The host can be woken (WoL / BMC) when in standby. */
  readonly canWake: boolean;
  /** Time from the wake command to the host reporting healthy. */
  readonly wakeLatencyMs: number;
  /** Power drawn when on and idle, in watts (optional; consolidate prefers efficient hosts when known). */
  readonly idleW?: number;
  /** Power drawn at 100% CPU, in watts (with `idleW`: a linear model between the two). */
  readonly maxW?: number;
}

export interface Host {
  readonly id: string;
  readonly state: HostState;
  readonly cpuCores: number;
  /** Total CPU capacity: cores × MHz per core. */
  readonly cpuCapacityMhz: number;
  readonly memoryMiB: number;
  /** Measured host CPU use (VMs and overhead), oldest first. Derived from the VMs when absent. */
  readonly cpuUsageMhzHistory?: readonly number[];
  /** Measured host memory use, oldest first. */
  readonly memoryUsageMiBHistory?: readonly number[];
  /** Fraction (0..1) of vCPU time spent waiting for a physical CPU, averaged over the host. */
  readonly contention?: number;
  readonly power: HostPower;
  /**
   * The host's libvirt and QEMU versions: no VM moves here from a host with a newer one (protocol's
   * `olderHypervisor`). Absent = not compared (an old agent, or the cluster allows older ones).
   */
  readonly hypervisor?: { readonly libvirt: string; readonly qemu: string };
  /** Guest CPU models this host can run; absent = any. */
  readonly cpuModels?: readonly string[];
  /** Shared storage mounts (by path or id) present on this host. */
  readonly sharedStorage?: readonly string[];
  readonly bridges?: readonly string[];
  /** When the host last came on (or will be ready after a wake); consolidate keeps it on for `minOnMs`. */
  readonly onSinceMs?: number;
  /** Migration bandwidth to/from this host; the config default when absent. */
  readonly migrationBandwidthBytesPerSec?: number;
}

export interface Vm {
  readonly id: string;
  readonly hostId: string;
  readonly vcpus: number;
  /** Configured (allocated) memory: what capacity checks count and what migration copies. */
  readonly memoryMiB: number;
  /** CPU demand in MHz, oldest first. At least one sample. */
  readonly cpuDemandMhzHistory: readonly number[];
  /** Memory actually in use, oldest first (balance uses it; capacity uses `memoryMiB`). */
  readonly memoryDemandMiBHistory?: readonly number[];
  /** Measured page dirty rate; the config default when unknown. */
  readonly dirtyRateBytesPerSec?: number;
  /** Fraction (0..1) of this VM's vCPU time spent waiting (vcpu.N.delay / wall time). */
  readonly contention?: number;
  /** Never migrate. */
  readonly pinned?: boolean;
  readonly lastMigrationMs?: number;
  /** The host the VM left in its last migration (no move back there within `cooldown.returnMs`). */
  readonly previousHostId?: string;
  /** Required guest CPU model (must be in the destination's `cpuModels` when that is given). */
  readonly cpuModel?: string;
  /** Shared storage the VM's disks live on (must all be on the destination). */
  readonly storage?: readonly string[];
  readonly bridges?: readonly string[];
  /** Post-copy is allowed for this VM (also needs `migration.allowPostCopy`). */
  readonly allowPostCopy?: boolean;
  /** Bytes of its disks on no shared storage: every move copies them, so it costs more (cost model). */
  readonly localDiskBytes?: number;
}

export const RuleKind = {
  vmAffinity: "vm-affinity",
  vmAntiAffinity: "vm-anti-affinity",
  vmHost: "vm-host",
} as const;
export type RuleKind = (typeof RuleKind)[keyof typeof RuleKind];

export const VmHostMode = {
  must: "must",
  should: "should",
  mustNot: "must-not",
  shouldNot: "should-not",
} as const;
export type VmHostMode = (typeof VmHostMode)[keyof typeof VmHostMode];

/** Keep the VMs on one host (hard) or prefer it (soft). */
export interface VmAffinityRule {
  readonly id: string;
  readonly kind: "vm-affinity";
  readonly vmIds: readonly string[];
  readonly hard: boolean;
}
/** Keep the VMs on distinct hosts. */
export interface VmAntiAffinityRule {
  readonly id: string;
  readonly kind: "vm-anti-affinity";
  readonly vmIds: readonly string[];
  readonly hard: boolean;
}
/** Keep the VMs on (must/should) or off (must-not/should-not) a set of hosts. */
export interface VmHostRule {
  readonly id: string;
  readonly kind: "vm-host";
  readonly vmIds: readonly string[];
  readonly hostIds: readonly string[];
  readonly mode: VmHostMode;
}
export type Rule = VmAffinityRule | VmAntiAffinityRule | VmHostRule;

export interface InFlightMigration {
  readonly id: string;
  readonly vmId: string;
  readonly sourceHostId: string;
  readonly destinationHostId: string;
  readonly startedMs: number;
}

export interface MigrationFailure {
  readonly vmId: string;
  readonly destinationHostId: string;
  readonly atMs: number;
  readonly code?: string;
}

export interface ClusterSnapshot {
  readonly hosts: readonly Host[];
  readonly vms: readonly Vm[];
  readonly rules?: readonly Rule[];
  readonly inFlight?: readonly InFlightMigration[];
  readonly recentFailures?: readonly MigrationFailure[];
  /** Cluster configuration; every field has a default (see `defaultClusterConfig`). */
  readonly config?: ClusterConfigInput;
  /**
   * The cluster's total CPU demand forecast from its own history (daily and weekly patterns and the
   * trend: `SeasonalForecaster`). The power-off rule and consolidation's wakes plan for the larger of
   * it and the recent window's forecast. Absent: the window alone (as before).
   */
  readonly demandForecast?: DemandForecast;
}

/** Forecast total CPU demand: `cpuMhz[i]` for the step [fromMs + i·stepMs, fromMs + (i+1)·stepMs). */
export interface DemandForecast {
  readonly fromMs: number;
  readonly stepMs: number;
  readonly cpuMhz: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Plan

export const MigrationStrategy = {
  live: "live",
  liveAutoConverge: "live-auto-converge",
  postCopy: "post-copy",
  pauseAndCopy: "pause-and-copy",
} as const;
export type MigrationStrategy = (typeof MigrationStrategy)[keyof typeof MigrationStrategy];

export interface MigrationPrediction {
  readonly strategy: MigrationStrategy;
  readonly durationMs: number;
  readonly downtimeMs: number;
  /** Plain pre-copy reaches the allowed downtime (before any escalation). */
  readonly preCopyConverges: boolean;
  readonly iterations: number;
  readonly bytesSent: number;
  /** Scalar cost used to rank moves (seconds, strategy and downtime weighted). */
  readonly cost: number;
}

interface StepBase {
  /** Position in the plan's step list. */
  readonly index: number;
  /** Indices of steps that must complete before this one starts. */
  readonly dependsOn: readonly number[];
  /** Machine-readable reason (see `StepCode`). */
  readonly code: string;
  readonly message: string;
  /** The policy that proposed the step. */
  readonly policy: string;
}
export interface MigrateStep extends StepBase {
  readonly kind: "migrate";
  readonly vmId: string;
  readonly sourceHostId: string;
  readonly destinationHostId: string;
  readonly prediction: MigrationPrediction;
  /** Steps sharing a group move VMs that must stay together (hard affinity). */
  readonly group?: string;
}
export interface PowerOffStep extends StepBase {
  readonly kind: "power-off";
  readonly hostId: string;
}
export interface WakeStep extends StepBase {
  readonly kind: "wake";
  readonly hostId: string;
  /** When the host is expected to be ready (nowMs + wake latency). */
  readonly readyByMs: number;
}
export type PlanStep = MigrateStep | PowerOffStep | WakeStep;

export interface NotMoved {
  readonly vmId: string;
  readonly hostId: string;
  readonly code: string;
  readonly message: string;
  readonly policy: string;
}

export interface RuleBlock {
  readonly ruleId: string;
  readonly code: string;
  readonly message: string;
  /** How many candidate placements the rule refused. */
  readonly count: number;
  readonly vmIds: readonly string[];
  readonly hostIds: readonly string[];
  readonly policy: string;
}

/** A step the in-flight limits held back (it may run in a later round). */
export interface DeferredStep {
  readonly step: PlanStep;
  readonly code: string;
  readonly message: string;
}

export interface PlanMetrics {
  readonly imbalanceBefore: number;
  readonly imbalanceAfter: number;
  readonly activeHostsBefore: number;
  readonly activeHostsAfter: number;
  readonly totalMigrationCost: number;
}

export interface Plan {
  /** Policy or profile name. */
  readonly policy: string;
  readonly nowMs: number;
  readonly seed: number;
  readonly steps: readonly PlanStep[];
  readonly notMoved: readonly NotMoved[];
  readonly ruleBlocks: readonly RuleBlock[];
  readonly deferred: readonly DeferredStep[];
  readonly metrics: PlanMetrics;
}
