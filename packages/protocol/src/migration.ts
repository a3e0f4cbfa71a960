import { z } from "zod";
import { Destination } from "./commands.js";
import { EpochMs, ErrorInfo, HostId, Id, NonNeg, PROTOCOL_VERSION, VmRef } from "./common.js";

export const MigrationPhases = ["starting", "copying", "escalating", "post-copy", "paused-copy", "completing"] as const;

/** Which migration a progress or result message speaks of, the same fields in both. */
const migrationHeader = {
  v: z.literal(PROTOCOL_VERSION),
  migrationId: Id,
  commandId: Id,
  vm: z.string(),
  vmUuid: z.string(),
  source: HostId,
  destination: HostId,
};
export type MigrationHeader = z.infer<z.ZodObject<typeof migrationHeader>>;

/** Streamed by the source agent at least every second while a migration runs. */
export const MigrationProgress = z.object({
  ...migrationHeader,
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
  ...migrationHeader,
  outcome: z.enum(MigrationOutcomes),
  completedBy: CompletedBy.nullable(),
  startedAtMs: EpochMs,
  endedAtMs: EpochMs,
  durationMs: NonNeg,
  downtimeMs: NonNeg.nullable(),
  bytesMoved: NonNeg,
  escalations: z.array(z.string()),
  /** Disks (targets) copied to the destination by a copy-storage move; absent or empty when storage is shared. */
  copiedDisks: z.array(z.string().min(1).max(256)).max(256).optional(),
  /** Where the VM runs now, as the agent verified it after the end. */
  vmRunningOn: HostId.nullable(),
  error: ErrorInfo.nullable(),
});
export type MigrationResult = z.infer<typeof MigrationResult>;
export type MigrationResultInput = z.input<typeof MigrationResult>;

/** What an agent did with one command (a `command` event), whoever sent it. */
export const CommandEventInfo = z.object({
  id: Id,
  kind: z.enum(["preflight", "migrate", "abort", "power-off", "wake-peer"]),
  issuedBy: z.string().min(1),
  vm: VmRef.nullable(),
  destination: Destination.nullable(),
  /** The reply's status: accepted, succeeded, failed or refused. */
  outcome: z.enum(["accepted", "running", "succeeded", "failed", "refused"]),
  duplicate: z.boolean(),
  error: ErrorInfo.nullable(),
});
export type CommandEventInfo = z.infer<typeof CommandEventInfo>;

/** Host-level events an agent publishes when something changes (not periodic). */
export const HostEvent = z.object({
  v: z.literal(PROTOCOL_VERSION),
  host: HostId,
  timeMs: EpochMs,
  kind: z.enum(["agent-started", "agent-stopping", "libvirt-down", "libvirt-up", "powering-off", "vm-lifecycle", "command"]),
  detail: z.string(),
  /** Set on `command` events only. */
  command: CommandEventInfo.optional(),
});
export type HostEvent = z.infer<typeof HostEvent>;
