// Cluster configuration: parsed once per plan into a fully defaulted object. Every field has a
// default, so `{}` is a valid configuration.

import { z } from "zod";
import { PolicyInputError } from "./errors.js";

const capacity = z
  .object({
    enforceCpu: z.boolean().default(true).describe("Count CPU demand against capacity."),
    enforceMemory: z
      .boolean()
      .default(true)
      .describe("Count allocated memory against capacity (the simulator's compat mode turns this off)."),
    cpuHeadroom: z.number().min(0).max(0.95).default(0).describe("Fraction of CPU capacity kept free on every host (0 = fill to 100%)."),
    memoryHeadroom: z.number().min(0).max(0.95).default(0).describe("Fraction of memory kept free on every host."),
    memoryOvercommit: z.number().min(0.1).max(10).default(1).describe("Allocated memory may exceed physical memory by this ratio."),
    vcpuOvercommit: z.number().positive().max(64).nullable().default(null).describe("Max vCPUs per physical core; null = unlimited."),
    enforceCoreSpeed: z
      .boolean()
      .default(false)
      .describe(
        "A vCPU runs on one physical core: refuse a host whose core speed (cpuCapacityMhz / cpuCores) is below a VM's " +
          "forecast demand per vCPU (its forecast MHz / vcpus).",
      ),
  })
  .prefault({})
  .describe("What a host can take.");

const forecast = z
  .object({
    statistic: z
      .enum(["last", "mean", "max", "percentile"])
      .default("max")
      .describe("Statistic of the recent window: last sample, mean, max, or a percentile."),
    windowSamples: z.number().int().min(1).max(10_000).default(6).describe("Samples in the recent window."),
    percentile: z.number().min(0).max(1).default(0.95).describe("The percentile taken when statistic is percentile (0..1)."),
    trend: z
      .boolean()
      .default(true)
      .describe("Also project a least-squares linear trend of the window horizonSamples ahead; take the max."),
    horizonSamples: z.number().min(0).max(1000).default(1).describe("How many samples ahead the trend is projected."),
    aggregate: z
      .enum(["vm", "host"])
      .default("vm")
      .describe(
        "vm: a host's load is the sum of its VMs' forecasts. host: the forecast of the sum of its VMs' histories (less " +
          "conservative: VMs rarely peak together), used for capacity too.",
      ),
    safetyMargin: z.number().min(0).max(5).default(0).describe("Multiply the forecast by (1 + safetyMargin)."),
  })
  .prefault({})
  .describe("How demand is forecast from the reports' history.");

const migration = z
  .object({
    defaultBandwidthBytesPerSec: z
      .number()
      .positive()
      .default(125_000_000)
      .describe("Migration bandwidth between two hosts, in bytes/s, when nothing else is known."),
    bandwidthEfficiency: z
      .number()
      .min(0.01)
      .max(1)
      .default(0.8)
      .describe("Share of the nominal bandwidth a migration stream achieves. Calibrated."),
    setupOverheadMs: z
      .number()
      .min(0)
      .default(2500)
      .describe("Fixed per-migration cost (connection, destination QEMU start, device state). Calibrated."),
    switchoverMs: z.number().min(0).default(200).describe("Fixed part of the downtime (pause, device state, resume, ARP). Calibrated."),
    maxDowntimeMs: z.number().positive().default(300).describe("Allowed downtime for the final stop-and-copy."),
    maxIterations: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(30)
      .describe("Pre-copy rounds the model allows before it calls a move non-converging."),
    maxDurationMs: z
      .number()
      .positive()
      .default(600_000)
      .describe("A migration predicted longer than this is not chosen as live pre-copy."),
    defaultDirtyRateBytesPerSec: z.number().min(0).default(1_048_576).describe("Dirty rate assumed when the VM's is unknown."),
    allowAutoConverge: z.boolean().default(true).describe("The model may choose auto-converge (CPU throttling) for a fast-dirtying VM."),
    autoConvergeMaxThrottle: z
      .number()
      .min(0)
      .max(0.99)
      .default(0.9)
      .describe("Max CPU throttle auto-converge reaches (dirty rate scales by 1 - throttle)."),
    allowPostCopy: z.boolean().default(false).describe("The model may choose post-copy."),
    allowPauseAndCopy: z.boolean().default(false).describe("The model may choose pause-and-copy (the VM stops for the whole copy)."),
    downtimeWeight: z
      .number()
      .min(0)
      .default(10)
      .describe("Cost weights: cost = duration s × strategy weight + downtime s × downtimeWeight."),
    autoConvergeWeight: z.number().min(1).default(1.5).describe("Strategy weight of auto-converge (pre-copy is 1)."),
    postCopyWeight: z.number().min(1).default(2).describe("Strategy weight of post-copy."),
    pauseAndCopyWeight: z.number().min(1).default(3).describe("Strategy weight of pause-and-copy."),
  })
  .prefault({})
  .describe("The migration cost model: how long a move takes and what it costs.");

const cooldown = z
  .object({
    /** A VM is not moved again within this time of its last migration. */
    vmMs: z.number().min(0).default(900_000),
    /** A failed (vm, destination) pair is not proposed again within this time. */
    failureMs: z.number().min(0).default(1_800_000),
    /** A VM does not go back to the host it left within this time (no ping-pong). */
    returnMs: z.number().min(0).default(3_600_000),
  })
  .prefault({});

const limits = z
  .object({
    perSource: z.number().int().min(1).default(2),
    perDestination: z.number().int().min(1).default(2),
    perCluster: z.number().int().min(1).default(8),
  })
  .prefault({});

const spare = z
  .object({
    /** Keep this many of the largest hosts' worth of free CPU (and memory) on powered hosts. */
    hosts: z.number().int().min(0).default(0),
    /** Keep this fraction of the total forecast CPU demand free on powered hosts. */
    cpuFraction: z.number().min(0).max(10).default(0),
  })
  .prefault({});

export const clusterConfigSchema = z.object({
  /** Time between two history samples. */
  sampleIntervalMs: z.number().positive().default(300_000),
  capacity,
  forecast,
  migration,
  cooldown,
  limits,
  spare,
});

export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;
export type InFlightLimits = ClusterConfig["limits"];
export type MigrationModelConfig = ClusterConfig["migration"];
export type ForecastConfig = ClusterConfig["forecast"];

/** Parse and default a cluster configuration; throws PolicyInputError naming the bad field. */
export function parseClusterConfig(input: unknown): ClusterConfig {
  const r = clusterConfigSchema.safeParse(input ?? {});
  if (!r.success) throw PolicyInputError.fromZod("config", r.error);
  return r.data;
}

export const defaultClusterConfig: ClusterConfig = parseClusterConfig({});
