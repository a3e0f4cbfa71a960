// Row types as the scheduler sees them: camelCase, JSON columns already parsed, absent values as null.
import type { HostState } from "@drover/protocol";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** An error as recorded: same shape as protocol's ErrorInfo, plus anything the caller adds. */
export type ErrorRecord = { code: string; message: string; [key: string]: Json };

export interface HostRow {
  id: string;
  cluster: string;
  state: HostState;
  stateReason: string | null;
  /** When `state` last changed. */
  stateSinceMs: number;
  /** Time of the last report from the host's agent; null if it never reported. */
  lastReportMs: number | null;
  migrationUri: string | null;
  /** Wake methods (protocol WakeMethod[]), as last reported or configured. */
  wake: Json;
  /** Capacity as last reported (protocol HostReport.capacity). */
  capacity: Json;
  updatedMs: number;
}

/** What a host report changes; the scheduler-owned state is left alone. */
export interface HostReportRow {
  id: string;
  cluster: string;
  atMs: number;
  migrationUri: string | null;
  wake: Json;
  capacity: Json;
}

export interface VmSeenRow {
  uuid: string;
  name: string;
  host: string;
  /** protocol VmState ('running', 'paused', ...). */
  state: string;
  memoryMiB: number;
  vcpus: number;
  tags: string[];
  lastSeenMs: number;
}

export const PlanModes = ["recommend", "automatic", "manual", "dry-run"] as const;
export type PlanMode = (typeof PlanModes)[number];
export const PlanStatuses = ["proposed", "approved", "applying", "done", "rejected", "superseded"] as const;
export type PlanStatus = (typeof PlanStatuses)[number];
/** Plans still being worked on; pruning keeps them. */
export const OpenPlanStatuses = ["approved", "applying"] as const satisfies readonly PlanStatus[];

export const StepActions = ["migrate", "power-off", "wake", "maintenance"] as const;
export type StepAction = (typeof StepActions)[number];
export const StepStatuses = ["pending", "dispatched", "done", "failed", "skipped", "cancelled"] as const;
export type StepStatus = (typeof StepStatuses)[number];

export interface StepRow {
  /** 0-based position in the plan; steps run in this order. */
  index: number;
  action: StepAction;
  vmUuid: string | null;
  vmName: string | null;
  source: string | null;
  destination: string | null;
  /** Host a power or maintenance step acts on. */
  host: string | null;
  reason: string;
  predictedDurationMs: number | null;
  predictedDowntimeMs: number | null;
  /** Anything else the policy wants to show (cost terms, scores). */
  detail: Json;
  status: StepStatus;
  migrationId: string | null;
}

/** A step as given to plans.insert: status defaults to 'pending', the optional fields to null. */
export type StepInput = Pick<StepRow, "index" | "action" | "reason"> & Partial<Omit<StepRow, "index" | "action" | "reason">>;

/**
 * A plan's status as people read it: a rejection no one made is the scheduler's expiry of a
 * proposal left undecided (planTtlMs), so it reads "expired".
 */
export function planStatusShown(row: Pick<PlanRow, "status" | "decidedBy">): PlanStatus | "expired" {
  return row.status === "rejected" && row.decidedBy === null ? "expired" : row.status;
}

export interface PlanRow {
  id: string;
  /** Policy or request that produced it: 'balance', 'consolidate', 'drain', 'migrate', ... */
  kind: string;
  createdMs: number;
  mode: PlanMode;
  status: PlanStatus;
  statusMs: number;
  requestedBy: string;
  /** Who approved or rejected it (`plans.setStatus` with `by`); null until someone does. */
  decidedBy: string | null;
  summary: string;
  explanation: Json;
  steps: StepRow[];
}

export type PlanInput = Omit<PlanRow, "steps" | "status" | "statusMs" | "decidedBy"> & {
  status?: PlanStatus;
  steps: StepInput[];
};

export const MigrationStatuses = [
  "pending",
  "preflight",
  "dispatched",
  "running",
  "succeeded",
  "failed",
  "aborted",
  "timed-out",
  "cancelled",
] as const;
export type MigrationStatus = (typeof MigrationStatuses)[number];
/** Not finished: after a restart these are reconciled with what the agents report. */
export const InFlightMigrationStatuses = ["pending", "preflight", "dispatched", "running"] as const satisfies readonly MigrationStatus[];
/** Finished without moving the VM; they start the cool-down of that move. */
export const FailedMigrationStatuses = ["failed", "aborted", "timed-out"] as const satisfies readonly MigrationStatus[];

export interface MigrationRow {
  id: string;
  /** Id of the migrate command sent to the agent; the agent runs a command id at most once. */
  commandId: string;
  planId: string | null;
  vmUuid: string;
  vmName: string;
  source: string;
  destination: string;
  /** The destination's cluster when the move leaves this one (`drover migrate --cluster`); null: this cluster. */
  destinationCluster: string | null;
  requestedBy: string;
  reason: string;
  status: MigrationStatus;
  predictedDurationMs: number | null;
  predictedDowntimeMs: number | null;
  /** How it was (to be) run, e.g. 'live', 'post-copy-allowed'. */
  strategy: string | null;
  /** Moves (this one included) that shared its source or destination when it was sent; 1 = it ran alone. */
  concurrent: number;
  measuredDurationMs: number | null;
  measuredDowntimeMs: number | null;
  bytesMoved: number | null;
  /** protocol CompletedBy: 'live', 'raise-downtime', 'auto-converge', ... */
  completedBy: string | null;
  escalations: string[];
  error: ErrorRecord | null;
  createdMs: number;
  startedMs: number | null;
  endedMs: number | null;
  updatedMs: number;
}

type MigrationOptional =
  | "planId"
  | "destinationCluster"
  | "predictedDurationMs"
  | "predictedDowntimeMs"
  | "strategy"
  | "concurrent"
  | "measuredDurationMs"
  | "measuredDowntimeMs"
  | "bytesMoved"
  | "completedBy"
  | "escalations"
  | "error"
  | "startedMs"
  | "endedMs"
  | "status"
  | "updatedMs";
/** status defaults to 'pending', updatedMs to createdMs, concurrent to 1, the rest to null / []. */
export type MigrationInput = Omit<MigrationRow, MigrationOptional> & Partial<Pick<MigrationRow, MigrationOptional>>;
/** What may change after insert; identity (id, command, VM, hosts, requester) never does. */
export type MigrationPatch = Partial<
  Pick<
    MigrationRow,
    | "status"
    | "strategy"
    | "concurrent"
    | "measuredDurationMs"
    | "measuredDowntimeMs"
    | "bytesMoved"
    | "completedBy"
    | "escalations"
    | "error"
    | "startedMs"
    | "endedMs"
    | "predictedDurationMs"
    | "predictedDowntimeMs"
  >
> & { atMs?: number };

export const MaintenanceStatuses = ["draining", "in-maintenance", "blocked", "cancelled", "returned"] as const;
export type MaintenanceStatus = (typeof MaintenanceStatuses)[number];
/** At most one of these per host at a time. */
export const ActiveMaintenanceStatuses = ["draining", "in-maintenance", "blocked"] as const satisfies readonly MaintenanceStatus[];

export interface MaintenanceRow {
  id: string;
  host: string;
  requestedBy: string;
  /** Power the host off once it is empty. */
  powerOff: boolean;
  status: MaintenanceStatus;
  /** Why the drain cannot finish (VMs that cannot move and why), when status is 'blocked'. */
  blockers: Json;
  createdMs: number;
  updatedMs: number;
  endedMs: number | null;
}

export interface MaintenanceRequest {
  id: string;
  host: string;
  requestedBy: string;
  powerOff: boolean;
  atMs: number;
}
export type MaintenancePatch = Partial<Pick<MaintenanceRow, "status" | "blockers" | "powerOff" | "endedMs">> & { atMs?: number };

export const PowerActions = ["power-off", "wake"] as const;
export type PowerAction = (typeof PowerActions)[number];
export const PowerStatuses = ["requested", "sent", "succeeded", "failed", "timed-out", "cancelled"] as const;
export type PowerStatus = (typeof PowerStatuses)[number];
export const OpenPowerStatuses = ["requested", "sent"] as const satisfies readonly PowerStatus[];

export interface PowerRow {
  id: string;
  host: string;
  action: PowerAction;
  /** 'agent' (power off by the host itself), 'wol', 'ipmi', 'fake', ... */
  method: string;
  requestedBy: string;
  reason: string;
  status: PowerStatus;
  error: ErrorRecord | null;
  createdMs: number;
  updatedMs: number;
}

export interface PowerInput {
  id: string;
  host: string;
  action: PowerAction;
  method: string;
  requestedBy: string;
  reason: string;
  status?: PowerStatus;
  atMs: number;
  error?: ErrorRecord | null;
}
export type PowerPatch = Partial<Pick<PowerRow, "status" | "error" | "method">> & { atMs?: number };

export interface ConfigChangeRow {
  /** Assigned by the store, increasing. */
  seq: number;
  atMs: number;
  who: string;
  key: string;
  oldValue: Json;
  newValue: Json;
}
export type ConfigChangeInput = Omit<ConfigChangeRow, "seq">;

export const TokenRoles = ["viewer", "operator", "admin"] as const;
export type TokenRole = (typeof TokenRoles)[number];

/** An HTTP API token; the secret itself is never stored, only its SHA-256 (hex). */
export interface TokenRow {
  name: string;
  role: TokenRole;
  hash: string;
  createdMs: number;
  lastUsedMs: number | null;
  revokedMs: number | null;
  /** From then on it is refused; null: it never expires. */
  expiresMs: number | null;
}
export type TokenInput = Pick<TokenRow, "name" | "role" | "hash" | "createdMs"> & { expiresMs?: number | null };

export const AgentCommandKinds = ["preflight", "migrate", "abort", "power-off", "wake-peer"] as const;
export type AgentCommandKind = (typeof AgentCommandKinds)[number];
/** The agent's reply status to the command. */
export const AgentCommandOutcomes = ["accepted", "running", "succeeded", "failed", "refused"] as const;
export type AgentCommandOutcome = (typeof AgentCommandOutcomes)[number];

/** Where a migrate or preflight named, as the command carried it. */
export interface AgentCommandDestination {
  host: string;
  uri: string;
  hostUuid?: string;
}

/** A command an agent ran, from its `command` event: whoever sent it. */
export interface AgentCommandRow {
  /** Assigned by the store, increasing. */
  seq: number;
  /** The host whose agent ran it (the event's subject). */
  host: string;
  commandId: string;
  kind: AgentCommandKind;
  /** Who the sender claimed to be; only `issuedHere` is checked. */
  issuedBy: string;
  /** The command's id is one this scheduler sent to this host. */
  issuedHere: boolean;
  vm: string | null;
  destination: AgentCommandDestination | null;
  outcome: AgentCommandOutcome;
  /** The agent had seen the id before and changed nothing. */
  duplicate: boolean;
  error: ErrorRecord | null;
  /** The event's time by the agent's clock. */
  agentTimeMs: number;
  /** When the scheduler received the event, by its own clock. */
  atMs: number;
}
export type AgentCommandInput = Omit<AgentCommandRow, "seq">;

/**
 * `state`: the scheduler's view of the host changed (fromState -> toState); the others are what the
 * host's agent announced (its host events), recorded as they arrive.
 */
export const HostEventKinds = ["state", "agent-started", "agent-stopping", "libvirt-down", "libvirt-up", "powering-off"] as const;
export type HostEventKind = (typeof HostEventKinds)[number];

export interface HostEventRow {
  seq: number;
  atMs: number;
  host: string;
  event: HostEventKind;
  fromState: HostState | null;
  toState: HostState | null;
  detail: string;
}
export type HostEventInput = Omit<HostEventRow, "seq" | "fromState" | "toState"> & {
  fromState?: HostState | null;
  toState?: HostState | null;
};

/** A webhook delivery that gave up; `receiver` is the URL's origin and path only (no query or user info). */
export interface WebhookFailureRow {
  seq: number;
  atMs: number;
  receiver: string;
  event: string;
  eventId: string;
  attempts: number;
  error: string;
}
export type WebhookFailureInput = Omit<WebhookFailureRow, "seq">;

export type HistoryEntry =
  | { kind: "migration"; atMs: number; id: string; summary: string; row: MigrationRow }
  | { kind: "plan"; atMs: number; id: string; summary: string; row: PlanRow }
  | { kind: "maintenance"; atMs: number; id: string; summary: string; row: MaintenanceRow }
  | { kind: "power"; atMs: number; id: string; summary: string; row: PowerRow }
  | { kind: "config"; atMs: number; id: string; summary: string; row: ConfigChangeRow }
  | { kind: "command"; atMs: number; id: string; summary: string; row: AgentCommandRow }
  | { kind: "host"; atMs: number; id: string; summary: string; row: HostEventRow }
  | { kind: "webhook"; atMs: number; id: string; summary: string; row: WebhookFailureRow };
export type HistoryKind = HistoryEntry["kind"];

/** Whose load a series is: one host, one VM (by uuid) or the whole cluster (the sum of its VMs' demand). */
export const LoadKinds = ["host", "vm", "cluster"] as const;
export type LoadKind = (typeof LoadKinds)[number];

/** One full-resolution sample: the mean and the peak of the load over the period it covers. */
export interface LoadSampleInput {
  kind: LoadKind;
  id: string;
  atMs: number;
  cpuMhz: number;
  cpuMaxMhz: number;
  memoryMiB: number;
}

/** A point of a series: a full-resolution sample (`samples` 1) or a 5-minute bucket of them (mean and max). */
export interface LoadPoint {
  atMs: number;
  /** 0 for a full-resolution sample, LOAD_BUCKET_MS for a bucket. */
  bucketMs: number;
  samples: number;
  cpuMhz: number;
  cpuMaxMhz: number;
  memoryMiB: number;
  memoryMaxMiB: number;
}
