// A cluster's own recorded load (the scheduler's GET /v1/history/replay) as a simulation: its hosts
// as host types (one processing element of the host's whole MHz, so a VM of several vCPUs is not
// capped at one core; SPECpower-style table linear from the configured idle to full-load watts),
// its VMs as VM types (vCPUs × the fastest core, their memory) and their demand as the workload.
import type { LoadReplayResponse } from "@drover/protocol";
import { SimError, SimErrorCode } from "./errors.js";
import type { HostType, VmType } from "./power.js";
import { fromSeries, type Workload } from "./traces.js";

/** Watts assumed for a host without configured idleW/maxW (a typical 2-socket server). */
export const ASSUMED_WATTS = { idleW: 100, maxW: 250 } as const;

export interface HistoryReplay {
  readonly workload: Workload;
  readonly hosts: number;
  readonly hostTypes: readonly HostType[];
  readonly hostTypeOf: readonly number[];
  readonly vmTypes: readonly VmType[];
  readonly vmTypeOf: readonly number[];
  /** Hosts whose watts were assumed (`ASSUMED_WATTS`). */
  readonly assumedPower: number;
}

/** Index of `key` in `types`, adding it with `make()` when new; at most 256 distinct (the engine's type arrays are bytes). */
function typeIndex<T>(index: Map<string, number>, types: T[], key: string, make: () => T, what: string): number {
  let i = index.get(key);
  if (i === undefined) {
    if (types.length === 256) throw new SimError(SimErrorCode.badOption, `the recorded cluster has more than 256 distinct ${what}`);
    i = types.length;
    types.push(make());
    index.set(key, i);
  }
  return i;
}

export function fromHistory(doc: LoadReplayResponse): HistoryReplay {
  if (doc.hosts.length === 0) throw new SimError(SimErrorCode.badTraces, "the recorded history names no host with a known capacity");
  // A history too short to hold a whole step has no VM load on the grid either: say which it is.
  if (doc.steps < 2)
    throw new SimError(
      SimErrorCode.badTraces,
      `the recorded history covers ${doc.steps} whole 5-minute step(s) from ${new Date(doc.startMs).toISOString()}: at least 2 are needed ` +
        "(a scheduler records them as it runs; ask again later, or from further back with --since)",
    );
  if (doc.vms.length === 0) throw new SimError(SimErrorCode.badTraces, "the recorded history holds no VM load in that period");
  const hostTypes: HostType[] = [];
  const hostIndex = new Map<string, number>();
  let assumedPower = 0;
  const hostTypeOf = doc.hosts.map((h) => {
    const idleW = h.idleW ?? ASSUMED_WATTS.idleW;
    const maxW = h.maxW ?? ASSUMED_WATTS.maxW;
    if (h.idleW === null || h.maxW === null) assumedPower++;
    const mips = h.cpus * h.mhz;
    return typeIndex(
      hostIndex,
      hostTypes,
      `${mips}/${h.memoryMiB}/${idleW}/${maxW}`,
      () => ({
        name: `${h.cpus}x${h.mhz} MHz`,
        peMips: mips,
        pes: 1,
        ramMb: h.memoryMiB,
        bwKbps: 1_000_000,
        power: { name: `${idleW}-${maxW} W`, table: Array.from({ length: 11 }, (_, i) => idleW + ((maxW - idleW) * i) / 10) },
      }),
      "host types",
    );
  });
  const coreMhz = Math.max(...doc.hosts.map((h) => h.mhz));
  const vmTypes: VmType[] = [];
  const vmIndex = new Map<string, number>();
  const vmTypeOf = doc.vms.map((v) =>
    typeIndex(
      vmIndex,
      vmTypes,
      `${v.vcpus}/${v.memoryMiB}`,
      () => ({ mips: v.vcpus * coreMhz, ramMb: v.memoryMiB, bwKbps: 100_000 }),
      "VM sizes",
    ),
  );
  // The workload is in percent of each VM's MIPS; a step the VM did not report is idle.
  const series = doc.vms.map((v, i) => {
    const mips = (vmTypes[vmTypeOf[i] as number] as VmType).mips;
    return v.cpuMhz.map((c) => Math.min(100, Math.max(0, ((c ?? 0) / mips) * 100)));
  });
  const workload = fromSeries(
    doc.vms.map((v) => v.name),
    series,
    { source: `history of ${doc.cluster} from ${new Date(doc.startMs).toISOString()}`, intervalSeconds: doc.stepMs / 1000 },
  );
  return { workload, hosts: doc.hosts.length, hostTypes, hostTypeOf, vmTypes, vmTypeOf, assumedPower };
}
