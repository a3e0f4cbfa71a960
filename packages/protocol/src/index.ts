export {
  PROTOCOL_VERSION,
  ClusterName,
  HostId,
  Id,
  Uuid,
  VmUuid,
  VmRef,
  EpochMs,
  MAX_EPOCH_MS,
  ErrorInfo,
  silentLogger,
  type Logger,
} from "./common.js";
export { DroverError, cannotRead, errnoOf } from "./errors.js";
export { DropLog } from "./drop-log.js";
export { ValidationError, parseMessage, decodeMessage, issuesOf, type FieldIssue } from "./validation.js";
export {
  HostReport,
  HostReportLimits,
  VmReport,
  VmMetadataRules,
  DiskReport,
  LibvirtHealth,
  WakeMethod,
  StorageMount,
  VmState,
  VmStates,
  CacheMode,
  MIGRATION_TLS_FILES,
  MigrationTlsReport,
  HypervisorFacts,
  MigrationPortsReport,
  DestinationFacts,
  type HostReportInput,
} from "./host-report.js";
export {
  Command,
  CommandReply,
  CommandStatus,
  CommandStatuses,
  Destination,
  EscalationStep,
  MigrateOptions,
  PreflightCommand,
  MigrateCommand,
  AbortCommand,
  PowerOffCommand,
  WakePeerCommand,
  StatusCommand,
  PreflightCheck,
  PreflightCheckNames,
  type CommandInput,
  type CommandKind,
  type CommandReplyInput,
} from "./commands.js";
export {
  MigrationProgress,
  MigrationResult,
  MigrationOutcomes,
  MigrationPhases,
  CompletedBy,
  HostEvent,
  CommandEventInfo,
  type MigrationHeader,
  type MigrationResultInput,
} from "./migration.js";
export { HostState, HostStates, ReportingStates } from "./host-state.js";
export { diskSharedWith, disksToCopy, localDiskBytes, mountHolding, pathUnder } from "./storage.js";
export { subjects, streams, hostOfSubject, subjectPattern } from "./subjects.js";
export * from "./api.js";
export { ConsolidationWindow, ScheduleKinds, ScheduleRequest, SchedulesResponse } from "./schedule.js";
export { compareVersions, olderHypervisor, type HypervisorVersions } from "./hypervisor-versions.js";
export { isLoopbackHost, isPlainHttpOffMachine, shownUrl, urlOf } from "./addresses.js";
export { timeArg } from "./time-arg.js";
