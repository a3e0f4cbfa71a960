import { z } from "zod";
import { EpochMs, ErrorInfo, HostId, Id, NonNeg, PROTOCOL_VERSION } from "./common.js";

export const MigrationPhases = ["starting", "copying", "escalating", "post-copy", "paused-copy", "completing"] as const;

/** Streamed by the source agent at least every second while a migration runs. */
export const MigrationProgress = z.object({
  v: z.literal(PROTOCOL_VERSION),
  migrationId: Id,
  commandId: Id,
  vm: z.string(),
  vmUuid: z.string(),
  source: HostId,
  destination: HostId,
  timeMs: EpochMs,
  elapsedMs: NonNeg,
  phase: z.enum(MigrationPhases),
  dataTotalBytes: NonNeg,
  dataProcessedBytes: NonNeg,
  dataRemainingBytes: NonNeg,
  memDirtyRateBps: NonNeg.nullable(),
  bandwidthBps: NonNeg.nullable(),
  iteration: z.number().int().nonnegative(),
  expectedDowntimeMs: NonNeg.nullable(),
  /** Rungs of the escalation ladder applied so far, e.g. ["raise-downtime:1000"]. */
  escalations: z.array(z.string()),
});
export type MigrationProgress = z.infer<typeof MigrationProgress>;

export const MigrationOutcomes = ["succeeded", "failed", "aborted", "timed-out"] as const;
/** What finally made the migration complete. */
export const CompletedBy = z.enum(["live", "raise-downtime", "auto-converge", "post-copy", "pause", "offline"]);

export const MigrationResult = z.object({
  v: z.literal(PROTOCOL_VERSION),
  migrationId: Id,
  commandId: Id,
  vm: z.string(),
  vmUuid: z.string(),
  source: HostId,
  destination: HostId,
  outcome: z.enum(MigrationOutcomes),
  completedBy: CompletedBy.nullable(),
  startedAtMs: EpochMs,
  endedAtMs: EpochMs,
  durationMs: NonNeg,
  downtimeMs: NonNeg.nullable(),
  bytesMoved: NonNeg,
  escalations: z.array(z.string()),
  /** Where the VM runs now, as the agent verified it after the end. */
  vmRunningOn: HostId.nullable(),
  error: ErrorInfo.nullable(),
});
export type MigrationResult = z.infer<typeof MigrationResult>;
export type MigrationResultInput = z.input<typeof MigrationResult>;

/** Host-level events an agent publishes when something changes (not periodic). */
export const HostEvent = z.object({
  v: z.literal(PROTOCOL_VERSION),
  host: HostId,
  timeMs: EpochMs,
  kind: z.enum(["agent-started", "agent-stopping", "libvirt-down", "libvirt-up", "powering-off", "vm-lifecycle"]),
  detail: z.string(),
});
export type HostEvent = z.infer<typeof HostEvent>;
