// Numeric values from libvirt-domain.h / virterror.h (libvirt 9.0 ABI; stable across releases).

/** virDomainMigrateFlags */
export const MigrateFlags = {
  LIVE: 1 << 0,
  PEER2PEER: 1 << 1,
  TUNNELLED: 1 << 2,
  PERSIST_DEST: 1 << 3,
  UNDEFINE_SOURCE: 1 << 4,
  PAUSED: 1 << 5,
  NON_SHARED_DISK: 1 << 6,
  NON_SHARED_INC: 1 << 7,
  CHANGE_PROTECTION: 1 << 8,
  UNSAFE: 1 << 9,
  OFFLINE: 1 << 10,
  COMPRESSED: 1 << 11,
  ABORT_ON_ERROR: 1 << 12,
  AUTO_CONVERGE: 1 << 13,
  RDMA_PIN_ALL: 1 << 14,
  POSTCOPY: 1 << 15,
  TLS: 1 << 16,
  PARALLEL: 1 << 17,
  NON_SHARED_SYNCHRONOUS_WRITES: 1 << 18,
  POSTCOPY_RESUME: 1 << 19,
  ZEROCOPY: 1 << 20,
} as const;
const ALL_MIGRATE_FLAGS = Object.values(MigrateFlags).reduce((a, b) => a | b, 0);
export function isValidMigrateFlags(flags: number): boolean {
  return Number.isInteger(flags) && flags >= 0 && (flags & ~ALL_MIGRATE_FLAGS) === 0;
}

/** virDomainStatsTypes: groups for allDomainStats({ stats }). 0 means "all the driver supports". */
export const DomainStatsTypes = {
  STATE: 1 << 0,
  CPU_TOTAL: 1 << 1,
  BALLOON: 1 << 2,
  VCPU: 1 << 3,
  INTERFACE: 1 << 4,
  BLOCK: 1 << 5,
  PERF: 1 << 6,
  IOTHREAD: 1 << 7,
  MEMORY: 1 << 8,
  DIRTYRATE: 1 << 9,
  VM: 1 << 10,
} as const;

/** virDomainPausedReason (the reason of a paused domain's state), the values Drover reads. */
export const DomainPausedReason = {
  /** Paused on the source of a migration in its post-copy phase. */
  POSTCOPY: 12,
  /** The post-copy phase failed: the migration waits to be resumed (VIR_MIGRATE_POSTCOPY_RESUME). */
  POSTCOPY_FAILED: 13,
} as const;

/** virConnectGetAllDomainStatsFlags (filters apply only when no domain list is given). */
export const DomainStatsFlags = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
  /** Skip stats that would wait for a running job (e.g. a migration) instead of blocking. */
  NOWAIT: 1 << 29,
  BACKING: 1 << 30,
  ENFORCE_STATS: 2 ** 31,
} as const;

/** virDomainXMLFlags */
export const DomainXmlFlags = { SECURE: 1, INACTIVE: 2, UPDATE_CPU: 4, MIGRATABLE: 8 } as const;

/** virDomainState, index = numeric value. */
export const DOMAIN_STATES = ["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"] as const;
export type DomainState = (typeof DOMAIN_STATES)[number] | "unknown";
export function domainStateName(n: number): DomainState {
  return DOMAIN_STATES[n] ?? "unknown";
}

/** virDomainJobType, index = numeric value. */
export const JOB_TYPES = ["none", "bounded", "unbounded", "completed", "failed", "cancelled"] as const;
export type JobType = (typeof JOB_TYPES)[number] | "unknown";

/** virDomainEventID values this package subscribes to. */
export const DomainEventId = { LIFECYCLE: 0, MIGRATION_ITERATION: 20, JOB_COMPLETED: 21, METADATA_CHANGE: 23 } as const;

/** virDomainMetadataType, index = numeric value (what a metadata-change event says changed). */
export const METADATA_TYPES = ["description", "title", "element"] as const;
export type MetadataType = (typeof METADATA_TYPES)[number];

/** virDomainEventType, index = numeric value. */
export const LIFECYCLE_EVENTS = [
  "defined",
  "undefined",
  "started",
  "suspended",
  "resumed",
  "stopped",
  "shutdown",
  "pmsuspended",
  "crashed",
] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number] | "unknown";

/** Detail names per lifecycle event (virDomainEvent*DetailType), index = numeric detail. */
export const LIFECYCLE_DETAILS: Record<LifecycleEvent, readonly string[]> = {
  defined: ["added", "updated", "renamed", "from_snapshot"],
  undefined: ["removed", "renamed"],
  started: ["booted", "migrated", "restored", "from_snapshot", "wakeup", "recreated"],
  suspended: ["paused", "migrated", "ioerror", "watchdog", "restored", "from_snapshot", "api_error", "postcopy", "postcopy_failed"],
  resumed: ["unpaused", "migrated", "from_snapshot", "postcopy", "postcopy_failed"],
  stopped: ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot"],
  shutdown: ["finished", "guest", "host"],
  pmsuspended: ["memory", "disk"],
  crashed: ["panicked", "crashloaded"],
  unknown: [],
};

/**
 * Why a connection closed: "lost" when libvirt calls it dead (the daemon went away, the keepalive
 * went unanswered, a socket error; libvirt's own reason is not read, see native/event-worker.ts),
 * "client" after close().
 */
export type CloseReason = "lost" | "client";

/** A few virErrorNumber values callers branch on. */
export const ErrorCode = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  AUTH_FAILED: 45,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_ABORTED: 78,
  MIGRATE_UNSAFE: 81,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  CPU_INCOMPATIBLE: 91,
} as const;

/** virTypedParameterType */
export const TypedParamType = { INT: 1, UINT: 2, LLONG: 3, ULLONG: 4, DOUBLE: 5, BOOLEAN: 6, STRING: 7 } as const;
