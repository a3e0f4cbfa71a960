// zod schema of a cluster snapshot, for input that crosses a trust boundary (JSON from the API,
// the CLI or a file). `plan` itself only does cheap structural checks, because the simulator and
// the scheduler call it every round with snapshots they built themselves.

import { z } from "zod";
import { clusterConfigSchema } from "./config.js";
import { PolicyInputError } from "./errors.js";
import type { ClusterSnapshot } from "./types.js";

const id = z.string().min(1);
const nonNeg = z.number().finite().min(0);
const ids = z.array(id);

const hostSchema = z
  .object({
    id,
    state: z.enum(["healthy", "draining", "maintenance", "standby", "waking", "unreachable"]),
    cpuCores: z.number().int().positive(),
    cpuCapacityMhz: z.number().finite().positive(),
    memoryMiB: z.number().finite().positive(),
    cpuUsageMhzHistory: z.array(nonNeg).optional(),
    memoryUsageMiBHistory: z.array(nonNeg).optional(),
    contention: z.number().min(0).max(1).optional(),
    power: z
      .object({ canPowerOff: z.boolean(), canWake: z.boolean(), wakeLatencyMs: nonNeg, idleW: nonNeg.optional(), maxW: nonNeg.optional() })
      .strict()
      .refine((p) => p.idleW === undefined || p.maxW === undefined || p.maxW >= p.idleW, {
        message: "power.maxW must be at least power.idleW",
      }),
    hypervisor: z
      .object({ libvirt: z.string().min(1), qemu: z.string().min(1) })
      .strict()
      .optional(),
    cpuModels: ids.optional(),
    sharedStorage: ids.optional(),
    bridges: ids.optional(),
    migrationBandwidthBytesPerSec: z.number().finite().positive().optional(),
    onSinceMs: z.number().finite().optional(),
  })
  .strict();

const vmSchema = z
  .object({
    id,
    hostId: id,
    vcpus: z.number().int().positive(),
    memoryMiB: nonNeg,
    cpuDemandMhzHistory: z.array(nonNeg).min(1),
    memoryDemandMiBHistory: z.array(nonNeg).optional(),
    dirtyRateBytesPerSec: nonNeg.optional(),
    contention: z.number().min(0).max(1).optional(),
    pinned: z.boolean().optional(),
    lastMigrationMs: z.number().finite().optional(),
    previousHostId: id.optional(),
    cpuModel: id.optional(),
    storage: ids.optional(),
    bridges: ids.optional(),
    allowPostCopy: z.boolean().optional(),
    localDiskBytes: nonNeg.optional(),
  })
  .strict();

const ruleSchema = z.discriminatedUnion("kind", [
  z.object({ id, kind: z.literal("vm-affinity"), vmIds: ids.min(1), hard: z.boolean() }).strict(),
  z.object({ id, kind: z.literal("vm-anti-affinity"), vmIds: ids.min(1), hard: z.boolean() }).strict(),
  z
    .object({
      id,
      kind: z.literal("vm-host"),
      vmIds: ids.min(1),
      hostIds: ids.min(1),
      mode: z.enum(["must", "should", "must-not", "should-not"]),
    })
    .strict(),
]);

export const clusterSnapshotSchema = z
  .object({
    hosts: z.array(hostSchema),
    vms: z.array(vmSchema),
    rules: z.array(ruleSchema).optional(),
    inFlight: z
      .array(z.object({ id, vmId: id, sourceHostId: id, destinationHostId: id, startedMs: z.number().finite() }).strict())
      .optional(),
    recentFailures: z
      .array(z.object({ vmId: id, destinationHostId: id, atMs: z.number().finite(), code: z.string().optional() }).strict())
      .optional(),
    config: clusterConfigSchema.partial().optional(),
    demandForecast: z
      .object({
        fromMs: z.number().finite(),
        stepMs: z.number().finite().positive(),
        cpuMhz: z.array(z.number().finite().nonnegative()).max(100_000),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Validate an untrusted snapshot (throws PolicyInputError naming the first bad field). */
export function parseSnapshot(input: unknown): ClusterSnapshot {
  const r = clusterSnapshotSchema.safeParse(input);
  if (!r.success) throw PolicyInputError.fromZod("snapshot", r.error);
  return r.data as ClusterSnapshot;
}
