// Decoding of virConnectGetAllDomainStats records ("cpu.time", "vcpu.0.delay", ...) into objects.
// Pure: tested without libvirt. Keys this code does not know stay available in `raw`.
import type { DomainState } from "./constants.js";
import { domainStateName } from "./constants.js";
import type { TypedPair, TypedValue } from "./native/typed-params.js";

export interface VcpuStats {
  index: number;
  /** virVcpuState: 0 offline, 1 running, 2 blocked */
  state?: number;
  timeNs?: number;
  waitNs?: number;
  /** Time the vCPU was runnable but waited for a host CPU (steal), libvirt >= 7.9. */
  delayNs?: number;
  halted?: boolean;
}
export interface NetStats {
  index: number;
  name?: string;
  rxBytes?: number;
  rxPkts?: number;
  rxErrs?: number;
  rxDrop?: number;
  txBytes?: number;
  txPkts?: number;
  txErrs?: number;
  txDrop?: number;
}
export interface BlockStats {
  index: number;
  name?: string;
  path?: string;
  backingIndex?: number;
  rdReqs?: number;
  rdBytes?: number;
  rdTimesNs?: number;
  wrReqs?: number;
  wrBytes?: number;
  wrTimesNs?: number;
  flReqs?: number;
  flTimesNs?: number;
  errors?: number;
  allocation?: number;
  capacity?: number;
  physical?: number;
  threshold?: number;
}
export interface BalloonStats {
  currentKiB?: number;
  maximumKiB?: number;
  swapInKiB?: number;
  swapOutKiB?: number;
  majorFault?: number;
  minorFault?: number;
  unusedKiB?: number;
  availableKiB?: number;
  usableKiB?: number;
  lastUpdate?: number;
  rssKiB?: number;
  diskCachesKiB?: number;
}
export interface DirtyRateStats {
  status: "unstarted" | "measuring" | "measured" | "unknown";
  startTimeS?: number;
  periodS?: number;
  /** dirtyrate.megabytes_per_second (MiB/s) */
  mibPerS?: number;
  mode?: string;
  vcpuMibPerS?: number[];
}
export interface DomainStats {
  name: string;
  uuid: string;
  state?: { state: DomainState; reason: number };
  cpu?: { timeNs?: number; userNs?: number; systemNs?: number };
  balloon?: BalloonStats;
  vcpuCount?: { current?: number; maximum?: number };
  vcpu: VcpuStats[];
  net: NetStats[];
  block: BlockStats[];
  dirtyRate?: DirtyRateStats;
  /** Every parameter as libvirt named it (the last value wins for repeated names). */
  raw: Record<string, TypedValue>;
}

const num = (v: TypedValue | undefined): number | undefined => (typeof v === "number" ? v : undefined);
const str = (v: TypedValue | undefined): string | undefined => (typeof v === "string" ? v : undefined);

function pick<T>(raw: Record<string, TypedValue>, prefix: string, fields: Record<string, keyof T>): Partial<T> | undefined {
  const out: Record<string, TypedValue> = {};
  let any = false;
  for (const [key, field] of Object.entries(fields)) {
    const v = raw[prefix + key];
    if (v !== undefined) {
      out[field as string] = v;
      any = true;
    }
  }
  return any ? (out as Partial<T>) : undefined;
}

/** Groups "<group>.<n>.<rest>" keys by n, e.g. vcpu.3.time -> [3]["time"]. */
function indexed(raw: Record<string, TypedValue>, group: string): Map<number, Record<string, TypedValue>> {
  const re = new RegExp(`^${group}\\.(\\d+)\\.(.+)$`);
  const byIndex = new Map<number, Record<string, TypedValue>>();
  for (const [k, v] of Object.entries(raw)) {
    const m = re.exec(k);
    if (m === null) continue;
    const i = Number(m[1]);
    let rec = byIndex.get(i);
    if (rec === undefined) byIndex.set(i, (rec = {}));
    rec[m[2] as string] = v;
  }
  return new Map([...byIndex.entries()].sort((a, b) => a[0] - b[0]));
}

const BALLOON: Record<string, keyof BalloonStats> = {
  current: "currentKiB",
  maximum: "maximumKiB",
  swap_in: "swapInKiB",
  swap_out: "swapOutKiB",
  major_fault: "majorFault",
  minor_fault: "minorFault",
  unused: "unusedKiB",
  available: "availableKiB",
  usable: "usableKiB",
  "last-update": "lastUpdate",
  rss: "rssKiB",
  disk_caches: "diskCachesKiB",
};
const NET: Record<string, keyof NetStats> = {
  name: "name",
  "rx.bytes": "rxBytes",
  "rx.pkts": "rxPkts",
  "rx.errs": "rxErrs",
  "rx.drop": "rxDrop",
  "tx.bytes": "txBytes",
  "tx.pkts": "txPkts",
  "tx.errs": "txErrs",
  "tx.drop": "txDrop",
};
const BLOCK: Record<string, keyof BlockStats> = {
  name: "name",
  path: "path",
  backingIndex: "backingIndex",
  "rd.reqs": "rdReqs",
  "rd.bytes": "rdBytes",
  "rd.times": "rdTimesNs",
  "wr.reqs": "wrReqs",
  "wr.bytes": "wrBytes",
  "wr.times": "wrTimesNs",
  "fl.reqs": "flReqs",
  "fl.times": "flTimesNs",
  errors: "errors",
  allocation: "allocation",
  capacity: "capacity",
  physical: "physical",
  threshold: "threshold",
};
const VCPU: Record<string, keyof VcpuStats> = { state: "state", time: "timeNs", wait: "waitNs", delay: "delayNs", halted: "halted" };
const DIRTY_STATUS = ["unstarted", "measuring", "measured"] as const;

export function decodeDomainStats(name: string, uuid: string, params: readonly TypedPair[]): DomainStats {
  const raw: Record<string, TypedValue> = {};
  for (const [k, v] of params) raw[k] = v;
  const out: DomainStats = { name, uuid, vcpu: [], net: [], block: [], raw };

  const st = num(raw["state.state"]);
  if (st !== undefined) out.state = { state: domainStateName(st), reason: num(raw["state.reason"]) ?? 0 };
  const cpu = pick<NonNullable<DomainStats["cpu"]>>(raw, "cpu.", { time: "timeNs", user: "userNs", system: "systemNs" });
  if (cpu) out.cpu = cpu;
  const balloon = pick<BalloonStats>(raw, "balloon.", BALLOON);
  if (balloon) out.balloon = balloon;
  const vc = pick<NonNullable<DomainStats["vcpuCount"]>>(raw, "vcpu.", { current: "current", maximum: "maximum" });
  if (vc) out.vcpuCount = vc;

  const table = <T extends { index: number }>(group: string, fields: Record<string, keyof T>): T[] =>
    [...indexed(raw, group)].map(([index, rec]) => {
      const o: Record<string, TypedValue> = { index };
      for (const [key, field] of Object.entries(fields)) if (rec[key] !== undefined) o[field as string] = rec[key];
      return o as unknown as T;
    });
  out.vcpu = table<VcpuStats>("vcpu", VCPU);
  out.net = table<NetStats>("net", NET);
  out.block = table<BlockStats>("block", BLOCK);

  const status = num(raw["dirtyrate.calc_status"]);
  if (status !== undefined) {
    const d: DirtyRateStats = { status: DIRTY_STATUS[status] ?? "unknown" };
    const start = num(raw["dirtyrate.calc_start_time"]);
    const period = num(raw["dirtyrate.calc_period"]);
    const rate = num(raw["dirtyrate.megabytes_per_second"]);
    const mode = str(raw["dirtyrate.calc_mode"]);
    if (start !== undefined) d.startTimeS = start;
    if (period !== undefined) d.periodS = period;
    if (rate !== undefined) d.mibPerS = rate;
    if (mode !== undefined) d.mode = mode;
    const perVcpu = [...indexed(raw, "dirtyrate\\.vcpu")].map(([, r]) => num(r["megabytes_per_second"]) ?? 0);
    if (perVcpu.length > 0) d.vcpuMibPerS = perVcpu;
    out.dirtyRate = d;
  }
  return out;
}
