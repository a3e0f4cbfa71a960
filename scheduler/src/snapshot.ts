// Turns the cluster picture into the policy's input. The policy is pure: everything it needs
// (histories, rules, in-flight moves, recent failures, config, time) is in the snapshot, and
// planningSnapshot is the one place that gathers it.
import { historySamplesRead, withUniqueVmIds } from "@drover/policy";
import type { ClusterSnapshot, DemandForecast, Host, InFlightMigration, MigrationFailure, Profile, Vm } from "@drover/policy";
import { localDiskBytes, type HostState } from "@drover/protocol";
import type { Store } from "@drover/store";
import type { ClusterState, HostEntry, VmEntry } from "./cluster-state.js";
import type { SchedulerConfig } from "./config.js";
import { plannerClusterConfig, type LearnedModel } from "./prediction.js";
import { allowsPostCopy, isPinned, mergeRules } from "./rules/merge.js";

const MIB = 1_048_576;

/**
 * The policy's host states are the same idea without the passing "powering-off": such a host is
 * planned as in standby (it holds no VM and takes none, and can be woken once it is off).
 */
const policyHostState: Record<HostState, Host["state"]> = {
  healthy: "healthy",
  draining: "draining",
  maintenance: "maintenance",
  standby: "standby",
  waking: "waking",
  unreachable: "unreachable",
  "powering-off": "standby",
};

export interface SnapshotExtras {
  inFlight: readonly InFlightMigration[];
  recentFailures: readonly MigrationFailure[];
  /** Last succeeded migration per VM: for the VM cool-down and no move back (ping-pong). */
  lastMoves: ReadonlyMap<string, { atMs: number; from: string }>;
  /** Cost-model constants learned from this cluster's measured migrations. */
  learned?: LearnedModel;
  /** A host's migration bandwidth learned from its completed moves (nominal bytes/s), undefined: the configured one. */
  hostBandwidth?: (host: string) => number | undefined;
  /** Histories carry only their newest this many samples (what the policy reads; default: all). */
  historySamples?: number;
  /** What the load history foresees (default: nothing, the configured wake timeouts). */
  foresight?: Foresight;
  /** Hosts an open maintenance holds: no plan wakes them (power-manager.ts refuses it too). */
  inMaintenance?: ReadonlySet<string>;
}

/** What the remembered load and the measured wakes add to planning. */
export interface Foresight {
  /** The cluster's seasonal demand forecast (load-history-forecast.ts), once it knows a day. */
  demandForecast(): DemandForecast | undefined;
  /** How long a wake of this host is expected to take until it is healthy (power/wake-latency.ts). */
  wakeLatencyMs(host: string): number;
  /** When the host last came on, if known (power/wake-latency.ts): consolidation keeps it on `minOnMs`. */
  onSinceMs(host: string): number | undefined;
}

/** The dispatcher's view of moves that planning needs. */
export interface MovesView {
  inFlightForPolicy(): InFlightMigration[];
  readonly learnedModel: LearnedModel | undefined;
  hostLinkBandwidth?(host: string): number | undefined;
}

/** Where planning reads from: reports, configuration, finished moves (store), moves under way. */
export interface PlanningSources {
  state: ClusterState;
  config: SchedulerConfig;
  store: Pick<Store, "migrations" | "maintenance">;
  moves: MovesView;
  foresight?: Foresight;
}

/**
 * Everything the named policies need to plan at `nowMs`, gathered from its sources. Histories carry
 * only the newest samples those policies read (the forecast window when none is named: all that the
 * power-off rule reads); copying all 60 of 200,000 VMs' was most of a planning round at 10,000 hosts.
 */
export function planningSnapshot(src: PlanningSources, nowMs: number, policies: Profile["policies"] = []): ClusterSnapshot {
  const learned = src.moves.learnedModel;
  return buildSnapshot(src.state, src.config, nowMs, {
    historySamples: historySamplesRead(plannerClusterConfig(src.config, learned), policies),
    inFlight: src.moves.inFlightForPolicy(),
    ...recentMoves(src.store, src.config, nowMs),
    learned,
    ...(src.moves.hostLinkBandwidth ? { hostBandwidth: (h: string) => src.moves.hostLinkBandwidth?.(h) } : {}),
    ...(src.foresight ? { foresight: src.foresight } : {}),
    inMaintenance: new Set(src.store.maintenance.allActive().map((r) => r.host)),
  });
}

/**
 * The picture a move across clusters is placed on: the source host (as draining, with only the VMs
 * that leave, `vmUuids`, or all of its VMs) beside the peer cluster's hosts and their VMs, so the
 * drain policy chooses destinations there by the same rules as inside the cluster (capacity,
 * storage, bridges, versions, this cluster's rules over the VMs involved). The peer's own in-flight
 * moves are not known here: its scheduler plans around what arrives.
 */
export function crossClusterSnapshot(
  src: PlanningSources,
  peer: ClusterState,
  host: string,
  vmUuids: ReadonlySet<string> | null,
  nowMs: number,
): ClusterSnapshot {
  const moved = recentMoves(src.store, src.config, nowMs);
  const extras: SnapshotExtras = { inFlight: [], ...moved, learned: src.moves.learnedModel };
  const there = buildSnapshot(peer, src.config, nowMs, extras);
  // Only the source host and its leaving VMs of this cluster: not a snapshot of all of it.
  const h = src.state.hosts.get(host);
  const source = h ? policyHost(h, src.state, src.config, nowMs, extras) : null;
  const leavingEntries = source ? src.state.vmsOn(host).filter((v) => vmUuids === null || vmUuids.has(v.uuid)) : [];
  const mountLists: MountLists = new Map();
  const leaving = leavingEntries.map((v) => toPolicyVm(v, host, h!.report!.storage, mountLists, moved.lastMoves.get(v.uuid), undefined));
  // A VM both clusters report is on its way between them: it is planned where it leaves from.
  const leavingIds = new Set(leaving.map((v) => v.id));
  const staying = there.vms.filter((v) => !leavingIds.has(v.id));
  const entries = [...leavingEntries, ...staying.map((v) => peer.vm(v.id)!)];
  return withUniqueVmIds({
    hosts: [...(source ? [{ ...source, state: "draining" as const }] : []), ...there.hosts.filter((x) => x.id !== host)],
    vms: [...leaving, ...staying],
    rules: mergeRules(entries, src.config.rules).rules,
    inFlight: [],
    recentFailures: moved.recentFailures,
    config: there.config,
  });
}

/** The host's learned migration bandwidth, when there is one (the cost model uses the configured one otherwise). */
function bandwidthOf(extras: SnapshotExtras, host: string): { migrationBandwidthBytesPerSec?: number } {
  const b = extras.hostBandwidth?.(host);
  return b !== undefined && b > 0 ? { migrationBandwidthBytesPerSec: b } : {};
}

/** Failed moves still cooling down and each VM's last successful move, from the store. */
function recentMoves(
  store: Pick<Store, "migrations">,
  config: SchedulerConfig,
  nowMs: number,
): Pick<SnapshotExtras, "recentFailures" | "lastMoves"> {
  const { cooldowns } = config;
  const since = nowMs - Math.max(cooldowns.failureMs, cooldowns.returnMs, cooldowns.vmMs);
  const recentFailures: MigrationFailure[] = [];
  const lastMoves = new Map<string, { atMs: number; from: string }>();
  for (const m of store.migrations.list({ since, limit: 10_000 })) {
    if (
      (m.status === "failed" || m.status === "aborted" || m.status === "timed-out") &&
      m.endedMs !== null &&
      nowMs - m.endedMs < cooldowns.failureMs
    ) {
      recentFailures.push({
        vmId: m.vmUuid,
        destinationHostId: m.destination,
        atMs: m.endedMs,
        ...(m.error ? { code: m.error.code } : {}),
      });
    }
    if (m.status === "succeeded" && m.endedMs !== null) {
      const cur = lastMoves.get(m.vmUuid);
      if (!cur || cur.atMs < m.endedMs) lastMoves.set(m.vmUuid, { atMs: m.endedMs, from: m.source });
    }
  }
  return { recentFailures, lastMoves };
}

/**
 * A host as the policy sees it; null for one that has not reported since the scheduler started
 * (only a host known to be in standby matters then, and it has no capacity figures to plan with).
 */
function policyHost(h: HostEntry, state: ClusterState, config: SchedulerConfig, nowMs: number, extras: SnapshotExtras): Host | null {
  const r = h.report;
  if (!r) return null;
  const power = config.hosts[h.id]?.power;
  const samples = extras.historySamples;
  const onSinceMs = extras.foresight?.onSinceMs(h.id);
  return {
    id: h.id,
    state: policyHostState[state.stateOf(h, nowMs)],
    ...(onSinceMs !== undefined ? { onSinceMs } : {}),
    cpuCores: r.capacity.cpus,
    cpuCapacityMhz: r.capacity.cpus * r.capacity.mhz,
    memoryMiB: r.capacity.memoryMiB,
    cpuUsageMhzHistory: h.cpuMhz.values(samples),
    memoryUsageMiBHistory: h.memoryMiB.values(samples),
    contention: hostContention(r.vms),
    power: {
      canPowerOff: r.power.canPowerOff && (power?.allowPowerOff ?? false) && (power?.wake ?? "none") !== "none",
      canWake: (power?.wake ?? "none") !== "none" && !h.wakeFailed && extras.inMaintenance?.has(h.id) !== true,
      wakeLatencyMs: extras.foresight?.wakeLatencyMs(h.id) ?? power?.wakeTimeoutMs ?? 300_000,
      ...(power?.idleW !== undefined && power.maxW !== undefined ? { idleW: power.idleW, maxW: power.maxW } : {}),
    },
    sharedStorage: r.storage.filter((s) => s.shared).map((s) => s.path),
    bridges: r.bridges,
    // Left out when the cluster allows moves to older versions: then nothing compares them.
    ...bandwidthOf(extras, h.id),
    ...(r.hypervisor && !config.migration.allowOlderHypervisor
      ? { hypervisor: { libvirt: r.hypervisor.libvirt, qemu: r.hypervisor.qemu } }
      : {}),
  };
}

export function buildSnapshot(state: ClusterState, config: SchedulerConfig, nowMs: number, extras: SnapshotExtras): ClusterSnapshot {
  const samples = extras.historySamples;
  const hosts: Host[] = [];
  const hostIds = new Set<string>();
  for (const h of state.hosts.values()) {
    const host = policyHost(h, state, config, nowMs, extras);
    if (!host) continue;
    hostIds.add(h.id);
    hosts.push(host);
  }

  const vms: Vm[] = [];
  /** The planned VMs, whose rules the policy gets. */
  const planned: VmEntry[] = [];
  const mountLists: MountLists = new Map();
  for (const v of state.allVms()) {
    // A move that ended but that the reports do not show yet: ClusterState places its VM where it went.
    const host = state.hosts.get(v.host);
    if (!host?.report) continue;
    vms.push(toPolicyVm(v, v.host, host.report.storage, mountLists, extras.lastMoves.get(v.uuid), samples));
    planned.push(v);
  }
  // The policy rejects a snapshot whose in-flight move names a VM or host it does not hold.
  let inFlight: InFlightMigration[] = [];
  if (extras.inFlight.length > 0) {
    const vmIds = new Set(vms.map((v) => v.id));
    inFlight = extras.inFlight.filter((m) => vmIds.has(m.vmId) && hostIds.has(m.sourceHostId) && hostIds.has(m.destinationHostId));
  }

  const demandForecast = extras.foresight?.demandForecast();
  // Its VMs are the values of the cluster state's VM map, one per uuid: no plan need check again
  // that their ids are unique.
  return withUniqueVmIds({
    hosts,
    vms,
    rules: mergeRules(planned, config.rules).rules,
    inFlight,
    recentFailures: extras.recentFailures,
    config: plannerClusterConfig(config, extras.learned),
    ...(demandForecast ? { demandForecast } : {}),
  });
}

/** Share of the host's vCPU time spent waiting for a physical CPU (0..1), over its guests. */
export function hostContention(vms: readonly { vcpuWaitFraction: number; vcpus: number }[]): number {
  let w = 0;
  let n = 0;
  for (const v of vms) {
    w += v.vcpuWaitFraction;
    n += v.vcpus;
  }
  return n === 0 ? 0 : Math.min(1, w / n);
}

/** A VM's list of shared mounts when it has none. */
const NO_MOUNTS: readonly string[] = [];

/**
 * One list per mount for the VMs whose disks are all on that one mount (most VMs have one or none):
 * 200,000 VMs then share a few arrays instead of holding one each, which a snapshot allocated
 * and the garbage collector copied. The lists are read-only (`Vm.storage`).
 */
type MountLists = Map<string, readonly string[]>;

function oneMount(lists: MountLists, mount: string): readonly string[] {
  let list = lists.get(mount);
  if (list === undefined) lists.set(mount, (list = [mount]));
  return list;
}

/** The shared mounts holding the VM's disks, in disk order. */
function sharedMounts(
  disks: VmEntry["report"]["disks"],
  mounts: readonly { path: string; shared: boolean }[],
  lists: MountLists,
): readonly string[] {
  let first: string | undefined;
  let more: string[] | undefined;
  for (const d of disks) {
    if (!d.path || !d.shared) continue;
    // The mount holding the disk: longest shared mount path that prefixes the disk path.
    let best: string | undefined;
    for (const m of mounts) if (m.shared && d.path.startsWith(m.path) && (!best || m.path.length > best.length)) best = m.path;
    if (!best || best === first || more?.includes(best)) continue;
    if (first === undefined) first = best;
    else (more ??= [first]).push(best);
  }
  // A push onto [] reserves 16 slots: only VMs on several mounts (few) get an array of their own.
  return more ?? (first === undefined ? NO_MOUNTS : oneMount(lists, first));
}

function toPolicyVm(
  v: VmEntry,
  hostId: string,
  mounts: readonly { path: string; shared: boolean }[],
  mountLists: MountLists,
  last: { atMs: number; from: string } | undefined,
  samples: number | undefined,
): Vm {
  const r = v.report;
  const storage = sharedMounts(r.disks, mounts, mountLists);
  const cpu = v.cpuMhz.values(samples);
  const vm: { -readonly [K in keyof Vm]: Vm[K] } = {
    id: v.uuid,
    hostId,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    cpuDemandMhzHistory: cpu.length ? cpu : [0],
    memoryDemandMiBHistory: v.memoryMiB.values(samples),
    contention: Math.min(1, r.vcpuWaitFraction / Math.max(1, r.vcpus)),
    pinned: isPinned(r),
    storage,
    bridges: r.bridges,
    allowPostCopy: allowsPostCopy(r),
  };
  // Set after the literal: spreading optional parts into it took twice as long, 200,000 times a round.
  if (r.dirtyRateMiBs !== null) vm.dirtyRateBytesPerSec = r.dirtyRateMiBs * MIB;
  const disk = localDiskBytes(r.disks);
  if (disk > 0) vm.localDiskBytes = disk;
  if (last) {
    vm.lastMigrationMs = last.atMs;
    vm.previousHostId = last.from;
  }
  return vm;
}
