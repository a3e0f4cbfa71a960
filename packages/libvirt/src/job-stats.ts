// Decoding of virDomainGetJobStats / job-completed event parameters. Pure: tested without libvirt.
import type { JobType } from "./constants.js";
import { JOB_TYPES } from "./constants.js";
import type { TypedPair, TypedValue } from "./native/typed-params.js";

export interface JobStats {
  type: JobType;
  /** virDomainJobOperation (e.g. 5 = outgoing migration, 4 = incoming). */
  operation?: number;
  timeElapsedMs?: number;
  timeElapsedNetMs?: number;
  timeRemainingMs?: number;
  downtimeMs?: number;
  downtimeNetMs?: number;
  setupTimeMs?: number;
  dataTotal?: number;
  dataProcessed?: number;
  dataRemaining?: number;
  memTotal?: number;
  memProcessed?: number;
  memRemaining?: number;
  memConstant?: number;
  memNormal?: number;
  memNormalBytes?: number;
  /** Bytes per second the memory transfer currently achieves. */
  memBps?: number;
  /** Pages dirtied per second. */
  memDirtyRate?: number;
  memPageSize?: number;
  memIteration?: number;
  memPostcopyRequests?: number;
  diskTotal?: number;
  diskProcessed?: number;
  diskRemaining?: number;
  diskBps?: number;
  compressionCache?: number;
  compressionBytes?: number;
  compressionPages?: number;
  compressionCacheMisses?: number;
  compressionOverflow?: number;
  /** Percentage of CPU time auto-converge currently takes from the guest. */
  autoConvergeThrottle?: number;
  success?: boolean;
  errorMessage?: string;
  raw: Record<string, TypedValue>;
}

const FIELDS: Record<string, Exclude<keyof JobStats, "type" | "raw">> = {
  operation: "operation",
  time_elapsed: "timeElapsedMs",
  time_elapsed_net: "timeElapsedNetMs",
  time_remaining: "timeRemainingMs",
  downtime: "downtimeMs",
  downtime_net: "downtimeNetMs",
  setup_time: "setupTimeMs",
  data_total: "dataTotal",
  data_processed: "dataProcessed",
  data_remaining: "dataRemaining",
  memory_total: "memTotal",
  memory_processed: "memProcessed",
  memory_remaining: "memRemaining",
  memory_constant: "memConstant",
  memory_normal: "memNormal",
  memory_normal_bytes: "memNormalBytes",
  memory_bps: "memBps",
  memory_dirty_rate: "memDirtyRate",
  memory_page_size: "memPageSize",
  memory_iteration: "memIteration",
  memory_postcopy_requests: "memPostcopyRequests",
  disk_total: "diskTotal",
  disk_processed: "diskProcessed",
  disk_remaining: "diskRemaining",
  disk_bps: "diskBps",
  compression_cache: "compressionCache",
  compression_bytes: "compressionBytes",
  compression_pages: "compressionPages",
  compression_cache_misses: "compressionCacheMisses",
  compression_overflow: "compressionOverflow",
  auto_converge_throttle: "autoConvergeThrottle",
  success: "success",
  errmsg: "errorMessage",
};

export function decodeJobStats(type: number, params: readonly TypedPair[]): JobStats {
  const raw: Record<string, TypedValue> = {};
  for (const [k, v] of params) raw[k] = v;
  const out: Record<string, unknown> = { type: JOB_TYPES[type] ?? "unknown", raw };
  for (const [key, field] of Object.entries(FIELDS)) if (raw[key] !== undefined) out[field] = raw[key];
  return out as unknown as JobStats;
}
