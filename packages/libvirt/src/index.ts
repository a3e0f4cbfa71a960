// @drover/libvirt: typed calls over libvirt.so.0 (koffi). The only code that touches libvirt.
export { Connection } from "./connection.js";
export type {
  AllDomainStatsOptions,
  CpuCompareResult,
  DomainEvents,
  DomainId,
  DomainInfo,
  JobCompletedEventInfo,
  MetadataChangeEventInfo,
  LifecycleEventInfo,
  MigrationIterationEventInfo,
  NodeInfo,
  OpenOptions,
  Unsubscribe,
} from "./connection.js";
export { DirtyRateMode, Domain } from "./domain.js";
export type { DomainRuntimeInfo } from "./domain.js";
export type { BalloonStats, BlockStats, DirtyRateStats, DomainStats, NetStats, VcpuStats } from "./domain-stats.js";
export { decodeDomainStats } from "./domain-stats.js";
export type { JobStats } from "./job-stats.js";
export { decodeJobStats } from "./job-stats.js";
export type { MigrateParams } from "./migrate-params.js";
export { migrateParamsToTyped } from "./migrate-params.js";
export type { VolumeSpec } from "./storage-volume.js";
export { volumeXml } from "./storage-volume.js";
export type { TypedPair, TypedValue } from "./native/typed-params.js";
export { LibvirtArgumentError, LibvirtError, LibvirtStateError } from "./errors.js";
export type { LibvirtErrorInfo, Logger } from "./errors.js";
export {
  DOMAIN_STATES,
  DomainEventId,
  DomainPausedReason,
  DomainStatsFlags,
  DomainStatsTypes,
  DomainXmlFlags,
  ErrorCode,
  JOB_TYPES,
  LIFECYCLE_DETAILS,
  LIFECYCLE_EVENTS,
  MigrateFlags,
} from "./constants.js";
export type { CloseReason, DomainState, JobType, LifecycleEvent, MetadataType } from "./constants.js";
