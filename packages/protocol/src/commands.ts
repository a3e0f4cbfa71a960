import { z } from "zod";
import { ClusterName, EpochMs, ErrorInfo, HostId, Id, NonNeg, PROTOCOL_VERSION, Uuid, VmRef } from "./common.js";
import { DestinationFacts } from "./host-report.js";

/**
 * Where a VM goes: the peer's id, the libvirt URI its libvirtd listens on, and the host UUID that
 * libvirtd has, as the peer's own report gives them (old schedulers send no UUID).
 */
export const Destination = z.object({
  host: HostId,
  uri: z.string().min(1),
  hostUuid: Uuid.optional(),
  /**
   * The destination's cluster when it is not the source's (a move across clusters, `drover migrate
   * --cluster`); the source agent moves a guest there only if its `peerClusters` names that cluster.
   */
  cluster: ClusterName.optional(),
});
export type Destination = z.infer<typeof Destination>;

/**
 * One rung of the convergence ladder the agent climbs while a migration does not converge.
 * Each rung is tried in order; `abort` ends the migration with the VM still on the source.
 */
export const EscalationStep = z.discriminatedUnion("action", [
  z.object({ action: z.literal("raise-downtime"), toMs: z.number().int().positive() }),
  z.object({ action: z.literal("auto-converge") }),
  z.object({ action: z.literal("post-copy") }),
  z.object({ action: z.literal("pause") }),
  z.object({ action: z.literal("abort") }),
]);
export type EscalationStep = z.infer<typeof EscalationStep>;

export const MigrateOptions = z.object({
  maxDowntimeMs: z.number().int().positive().default(300),
  /** MiB/s; omitted = unlimited. */
  bandwidthMiBs: z.number().positive().optional(),
  persistOnDestination: z.boolean().default(true),
  undefineOnSource: z.boolean().default(true),
  /**
   * Pause-and-copy: the agent suspends the guest, moves it paused, resumes it on the destination and
   * reports the pause-to-resume time as the downtime.
   */
  offline: z.boolean().default(false),
  /**
   * Copy the disks not on storage shared with the destination (the agent finds which from its mounts
   * and the destination's report, creates each image there first, and removes it if the move fails).
   * A move without it is refused when the VM has such a disk.
   */
  copyStorage: z.boolean().default(false),
  /** Disks on a common directory that libvirt does not know as shared (the lab). */
  allowUnsafe: z.boolean().default(false),
  allowPostCopy: z.boolean().default(false),
  /** Post-copy strategy: switch to post-copy once the first full pass is sent (needs allowPostCopy). */
  postCopyAfterFirstPass: z.boolean().default(false),
  /** Start with auto-converge on (the planner chose that strategy). */
  autoConverge: z.boolean().default(false),
  /** Ladder climbed when the migration stalls; empty = wait until the timeout. */
  escalation: z.array(EscalationStep).default([]),
  /** A migration stalls when remaining memory has not shrunk for this many iterations... */
  stallIterations: z.number().int().positive().default(3),
  /** ...or for this long. */
  stallMs: z.number().int().positive().default(5000),
  timeoutMs: z.number().int().positive().default(600_000),
  progressIntervalMs: z.number().int().positive().max(1000).default(500),
});
export type MigrateOptions = z.infer<typeof MigrateOptions>;

const base = {
  v: z.literal(PROTOCOL_VERSION),
  /** Idempotency key: the same id twice has the effect of one command. */
  id: Id,
  issuedAtMs: EpochMs,
  issuedBy: z.string().min(1).default("scheduler"),
  /**
   * The sending scheduler's leader-lease revision (fencing token) when schedulers run with leadership;
   * an agent refuses a command whose revision is below the highest it has seen. Absent: one scheduler.
   */
  leaseRevision: z.number().int().positive().optional(),
};

export const PreflightCommand = z.object({
  ...base,
  kind: z.literal("preflight"),
  vm: VmRef,
  destination: Destination,
  copyStorage: z.boolean().default(false),
  /** The destination's latest report as the scheduler holds it (absent from old schedulers: the agent waits for its own). */
  destinationFacts: DestinationFacts.optional(),
  /** The cluster allows moves to a host with an older libvirt or QEMU than the source (scheduler `migration.allowOlderHypervisor`). */
  allowOlderHypervisor: z.boolean().default(false),
});

export const MigrateCommand = z.object({
  ...base,
  kind: z.literal("migrate"),
  migrationId: Id,
  vm: VmRef,
  destination: Destination,
  options: MigrateOptions,
});

export const AbortCommand = z.object({ ...base, kind: z.literal("abort"), migrationId: Id });

export const PowerOffCommand = z.object({ ...base, kind: z.literal("power-off") });

export const WakePeerCommand = z.object({
  ...base,
  kind: z.literal("wake-peer"),
  target: HostId,
  mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, "must be a MAC like 02:00:00:00:00:01"),
  /** Unicast address for the magic packet. */
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(9),
});

/** Asks for the state of an earlier command by its id. */
export const StatusCommand = z.object({ ...base, kind: z.literal("status"), commandId: Id });

export const Command = z.discriminatedUnion("kind", [
  PreflightCommand,
  MigrateCommand,
  AbortCommand,
  PowerOffCommand,
  WakePeerCommand,
  StatusCommand,
]);
export type Command = z.infer<typeof Command>;
export type CommandInput = z.input<typeof Command>;
export type CommandKind = Command["kind"];
export type MigrateCommand = z.infer<typeof MigrateCommand>;
export type PreflightCommand = z.infer<typeof PreflightCommand>;
export type WakePeerCommand = z.infer<typeof WakePeerCommand>;

export const PreflightCheckNames = [
  "vm-present",
  "shared-storage",
  "cache-mode",
  "destination-reachable",
  "migration-ports",
  "bridges",
  "cpu-compatible",
  "free-memory",
  "destination-space",
  "migration-tls",
  "hypervisor-version",
] as const;
export const PreflightCheck = z.object({
  check: z.enum(PreflightCheckNames),
  ok: z.boolean(),
  reason: z.string(),
});
export type PreflightCheck = z.infer<typeof PreflightCheck>;

export const CommandStatuses = ["accepted", "running", "succeeded", "failed", "refused"] as const;
export const CommandStatus = z.enum(CommandStatuses);
export type CommandStatus = z.infer<typeof CommandStatus>;

/** The agent's reply to any command (request/reply). Long commands reply `accepted` at once. */
export const CommandReply = z.object({
  v: z.literal(PROTOCOL_VERSION),
  /** The id of the command this answers (for `status`, of the command asked about). */
  id: Id,
  host: HostId,
  kind: z.enum(["preflight", "migrate", "abort", "power-off", "wake-peer", "status"]),
  status: CommandStatus,
  /** True when this id had been seen before and this is the first one's status. */
  duplicate: z.boolean().default(false),
  error: ErrorInfo.nullable().default(null),
  /** preflight: every check with its reason. */
  checks: z.array(PreflightCheck).optional(),
  /** migrate: the migration this command runs. */
  migrationId: Id.optional(),
  timeMs: EpochMs,
  elapsedMs: NonNeg.optional(),
});
export type CommandReply = z.infer<typeof CommandReply>;
export type CommandReplyInput = z.input<typeof CommandReply>;
