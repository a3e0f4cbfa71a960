// Cluster configuration: parsed once per plan into a fully defaulted object. Every field has a
// default, so `{}` is a valid configuration.

import { z } from "zod";
import { PolicyInputError } from "./errors.js";

const capacity = z
  .object({
    /** Count CPU demand against capacity. */
    enforceCpu: z.boolean().default(true),
    /** Count allocated memory against capacity (the simulator's compat mode turns this off). */
    enforceMemory: z.boolean().default(true),
    /** Fraction of CPU capacity kept free on every host (0 = fill to 100%). */
    cpuHeadroom: z.number().min(0).max(0.95).default(0),
    memoryHeadroom: z.number().min(0).max(0.95).default(0),
    /** Allocated memory may exceed physical memory by this ratio. */
    memoryOvercommit: z.number().min(0.1).max(10).default(1),
    /** Max vCPUs per physical core; null = unlimited. */
    vcpuOvercommit: z.number().positive().max(64).nullable().default(null),
    /**
     * A vCPU runs on one physical core: refuse a host whose core speed (cpuCapacityMhz /
     * cpuCores) is below a VM's forecast demand per vCPU (its forecast MHz / vcpus).
     */
    enforceCoreSpeed: z.boolean().default(false),
  })
  .prefault({});

const forecast = z
  .object({
    /** Statistic of the recent window: last sample, mean, max, or a percentile. */
    statistic: z.enum(["last", "mean", "max", "percentile"]).default("max"),
    windowSamples: z.number().int().min(1).max(10_000).default(6),
    percentile: z.number().min(0).max(1).default(0.95),
    /** Also project a least-squares linear trend of the window `horizonSamples` ahead; take the max. */
    trend: z.boolean().default(true),
    horizonSamples: z.number().min(0).max(1000).default(1),
    /**
     * "vm": a host's load is the sum of its VMs' forecasts. "host": the forecast of the sum of
     * its VMs' histories (less conservative: VMs rarely peak together), used for capacity too.
     */
    aggregate: z.enum(["vm", "host"]).default("vm"),
    /** Multiply the forecast by (1 + safetyMargin). */
    safetyMargin: z.number().min(0).max(5).default(0),
  })
  .prefault({});

const migration = z
  .object({
    defaultBandwidthBytesPerSec: z.number().positive().default(125_000_000),
    /** Share of the nominal bandwidth a migration stream achieves. Calibrated. */
    bandwidthEfficiency: z.number().min(0.01).max(1).default(0.8),
    /** Fixed per-migration cost (connection, destination QEMU start, device state). Calibrated. */
    setupOverheadMs: z.number().min(0).default(2500),
    /** Fixed part of the downtime (pause, device state, resume, ARP). Calibrated. */
    switchoverMs: z.number().min(0).default(200),
    /** Allowed downtime for the final stop-and-copy. */
    maxDowntimeMs: z.number().positive().default(300),
    maxIterations: z.number().int().min(1).max(1000).default(30),
    /** A migration predicted longer than this is not chosen as live pre-copy. */
    maxDurationMs: z.number().positive().default(600_000),
    /** Dirty rate assumed when the VM's is unknown. */
    defaultDirtyRateBytesPerSec: z.number().min(0).default(1_048_576),
    allowAutoConverge: z.boolean().default(true),
    /** Max CPU throttle auto-converge reaches (dirty rate scales by 1 - throttle). */
    autoConvergeMaxThrottle: z.number().min(0).max(0.99).default(0.9),
    allowPostCopy: z.boolean().default(false),
    allowPauseAndCopy: z.boolean().default(false),
    /** Cost weights: cost = duration s × strategy weight + downtime s × downtimeWeight. */
    downtimeWeight: z.number().min(0).default(10),
    autoConvergeWeight: z.number().min(1).default(1.5),
    postCopyWeight: z.number().min(1).default(2),
    pauseAndCopyWeight: z.number().min(1).default(3),
  })
  .prefault({});

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
