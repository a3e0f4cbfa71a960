export { Store, DEFAULT_RETENTION_DAYS, type StoreOptions } from "./store.js";
export { StoreError, StoreErrorCodes, type StoreErrorCode } from "./errors.js";
export type { WriteFailureListener } from "./write-failures.js";
export { LATEST_SCHEMA_VERSION } from "./schema.js";
export type { HistoryQuery } from "./history.js";
export type { Hosts } from "./repos/hosts.js";
export type { Vms } from "./repos/vms.js";
export type { Plans } from "./repos/plans.js";
export type { Migrations, MigrationQuery } from "./repos/migrations.js";
export type { Maintenance } from "./repos/maintenance.js";
export type { Power } from "./repos/power.js";
export type { ConfigChanges } from "./repos/config.js";
export type { Tokens } from "./repos/tokens.js";
export type { AgentCommands } from "./repos/agent-commands.js";
export type { HostEvents } from "./repos/host-events.js";
export type { WebhookFailures } from "./repos/webhook-failures.js";
export { LOAD_BUCKET_MS, type LoadHistory, type LoadCompaction } from "./repos/load.js";
export {
  PlanModes,
  PlanStatuses,
  planStatusShown,
  OpenPlanStatuses,
  StepActions,
  StepStatuses,
  MigrationStatuses,
  InFlightMigrationStatuses,
  FailedMigrationStatuses,
  MaintenanceStatuses,
  ActiveMaintenanceStatuses,
  PowerActions,
  PowerStatuses,
  OpenPowerStatuses,
  TokenRoles,
  AgentCommandKinds,
  AgentCommandOutcomes,
  HostEventKinds,
  LoadKinds,
  type LoadKind,
  type LoadSampleInput,
  type LoadPoint,
  type Json,
  type JsonObject,
  type ErrorRecord,
  type HostRow,
  type HostReportRow,
  type VmSeenRow,
  type PlanMode,
  type PlanStatus,
  type StepAction,
  type StepStatus,
  type StepRow,
  type StepInput,
  type PlanRow,
  type PlanInput,
  type MigrationStatus,
  type MigrationRow,
  type MigrationInput,
  type MigrationPatch,
  type MaintenanceStatus,
  type MaintenanceRow,
  type MaintenanceRequest,
  type MaintenancePatch,
  type PowerAction,
  type PowerStatus,
  type PowerRow,
  type PowerInput,
  type PowerPatch,
  type ConfigChangeRow,
  type ConfigChangeInput,
  type TokenRole,
  type TokenRow,
  type TokenInput,
  type AgentCommandKind,
  type AgentCommandOutcome,
  type AgentCommandDestination,
  type AgentCommandRow,
  type AgentCommandInput,
  type HostEventKind,
  type HostEventRow,
  type HostEventInput,
  type WebhookFailureRow,
  type WebhookFailureInput,
  type HistoryEntry,
  type HistoryKind,
} from "./types.js";
