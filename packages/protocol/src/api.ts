// Bodies of the scheduler's HTTP API (/v1/...). The scheduler validates requests and replies with
// these schemas and the CLI prints them as its `--json` output, so they are a stable contract:
// add optional fields freely, never rename or remove one.
import { z } from "zod";
import { ClusterName, EpochMs, ErrorInfo, HostId, Id, VmRef } from "./common.js";
import { HostState } from "./host-state.js";
import { MigrationOutcomes } from "./migration.js";

const NonNegNum = z.number().finite().nonnegative();

// ---------------------------------------------------------------------------------------------
// Errors

/** Every 4xx/5xx body. `issues` names each bad field of the request (path, query or body). */
export const ApiError = z.object({
  error: z.object({
    /**
     * e.g. "bad-request", "unauthorized" (401), "forbidden" (403), "not-found", "conflict", "refused",
     * "not-leader" (409: a following scheduler; the message names the leader),
     * "not-acceptable" (406: an event stream asked for without Accept: text/event-stream),
     * "too-large" (413), "uri-too-long" (414), "unsupported-encoding" (415), "headers-too-large" (431), "internal".
     */
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ field: z.string(), message: z.string() })).default([]),
  }),
});
export type ApiError = z.infer<typeof ApiError>;

// ---------------------------------------------------------------------------------------------
// Tokens and roles

/** Each role may do what the ones before it may: viewer reads, operator moves VMs, admin powers hosts and manages tokens. */
export const ApiRoles = ["viewer", "operator", "admin"] as const;
export const ApiRole = z.enum(ApiRoles);
export type ApiRole = z.infer<typeof ApiRole>;

/** A token's name: who asked, as history records it. */
export const TokenName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit");

export const TokenCreateRequest = z
  .object({
    name: TokenName,
    role: ApiRole,
    /** From then on the token is refused (401 expired); absent: it never expires. Must be in the future. */
    expiresAtMs: EpochMs.optional(),
  })
  .strict();
export type TokenCreateRequest = z.infer<typeof TokenCreateRequest>;

export const ApiToken = z.object({
  name: TokenName,
  role: ApiRole,
  createdAtMs: EpochMs,
  lastUsedAtMs: EpochMs.nullable(),
  revokedAtMs: EpochMs.nullable(),
  expiresAtMs: EpochMs.nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;
export const TokensResponse = z.object({ tokens: z.array(ApiToken) });
export type TokensResponse = z.infer<typeof TokensResponse>;
/** The only reply that carries the secret: shown once, never stored (the store keeps its SHA-256). */
export const TokenCreated = ApiToken.extend({ token: z.string() });
export type TokenCreated = z.infer<typeof TokenCreated>;
/** Who a token is: the dashboard's event stream says it first, so the page offers only what the role may do. */
export const ApiCaller = z.object({ name: TokenName, role: ApiRole });
export type ApiCaller = z.infer<typeof ApiCaller>;

// ---------------------------------------------------------------------------------------------
// Hosts and VMs

export const ApiHost = z.object({
  id: HostId,
  state: HostState,
  /**
   * Time of the last valid report (agent clock); null if never reported (configured only). After a
   * scheduler restart, until the host reports again: when the store last recorded a report of it
   * (scheduler clock), so a host that stopped reporting before the restart is not shown as "never".
   */
  lastReportMs: EpochMs.nullable(),
  /** Scheduler time the last report arrived (after a restart, as lastReportMs). */
  lastSeenMs: EpochMs.nullable(),
  cpus: z.number().int().nonnegative(),
  mhz: NonNegNum,
  memoryMiB: NonNegNum,
  cpuFraction: NonNegNum,
  memoryUsedMiB: NonNegNum,
  vmCount: z.number().int().nonnegative(),
  libvirtReachable: z.boolean(),
  migrationUri: z.string().nullable(),
  canPowerOff: z.boolean(),
  /** Wake methods configured or reported: "wol", "peer-wol", "ipmi". */
  wakeMethods: z.array(z.string()),
  /** The open maintenance request on this host, if any. */
  maintenanceId: Id.nullable(),
  /** Last wake attempt failed; the host is skipped for wakes until it reports again. */
  wakeFailed: z.boolean(),
});
export type ApiHost = z.infer<typeof ApiHost>;
export const HostsResponse = z.object({ hosts: z.array(ApiHost) });
export type HostsResponse = z.infer<typeof HostsResponse>;

export const ApiVm = z.object({
  uuid: z.string(),
  name: z.string(),
  /** Host the VM runs on (where it is reported running; the source while migrating). */
  host: HostId,
  state: z.string(),
  vcpus: z.number().int().nonnegative(),
  memoryMiB: NonNegNum,
  cpuUsedVcpus: NonNegNum,
  memoryUsedMiB: NonNegNum,
  tags: z.array(z.string()),
  migrating: z.boolean(),
  /** Other hosts that also report this VM right now (mid-migration). */
  alsoOn: z.array(HostId),
  /** The rules that apply to this VM and where each came from (scheduler/src/rules/merge.ts). */
  rules: z.array(
    z.object({
      what: z.string(),
      from: z.enum(["metadata", "tag", "config"]),
      /** The rule's id as plans name it; null for a per-VM setting (pinned, post-copy, priority). */
      rule: z.string().nullable(),
    }),
  ),
  /** Invalid `<drover:rules>` metadata and rule conflicts this VM is in. */
  ruleProblems: z.array(z.string()),
});
export type ApiVm = z.infer<typeof ApiVm>;
export const VmsResponse = z.object({ vms: z.array(ApiVm) });
export type VmsResponse = z.infer<typeof VmsResponse>;

// ---------------------------------------------------------------------------------------------
// Status

export const PolicyModes = ["off", "recommend", "automatic"] as const;
export const PolicyMode = z.enum(PolicyModes);
export type PolicyMode = z.infer<typeof PolicyMode>;

export const StatusResponse = z.object({
  cluster: z.string(),
  nowMs: EpochMs,
  startedAtMs: EpochMs,
  modes: z.object({ balance: PolicyMode, consolidate: PolicyMode, drain: PolicyMode }),
  hosts: z.object({
    total: z.number().int().nonnegative(),
    byState: z.record(z.string(), z.number().int().nonnegative()),
  }),
  vms: z.number().int().nonnegative(),
  migrations: z.object({
    inFlight: z.number().int().nonnegative(),
    queued: z.number().int().nonnegative(),
    limits: z.object({ perSource: z.number().int(), perDestination: z.number().int(), perCluster: z.number().int() }),
  }),
  consolidationWindow: z.object({ active: z.boolean(), start: z.string().nullable(), end: z.string().nullable() }),
  plansAwaitingApproval: z.number().int().nonnegative(),
  openMaintenance: z.number().int().nonnegative(),
  reports: z.object({ received: z.number().int().nonnegative(), invalid: z.number().int().nonnegative() }),
  /** Whether the scheduler's store takes writes; while it does not, the scheduler acts on nothing (reads go on). */
  store: z.object({ writable: z.boolean(), sinceMs: EpochMs.nullable(), reason: z.string().nullable() }).optional(),
  /** Which scheduler leads and the NATS cluster's health as this scheduler sees it. */
  control: z
    .object({
      leadership: z.object({
        /** False: one scheduler, no lease (it always leads). */
        enabled: z.boolean(),
        /** The scheduler that answered. */
        self: z.string(),
        leading: z.boolean(),
        leader: z.object({ id: z.string(), apiUrl: z.string().nullable() }).nullable(),
        /** The fencing token its commands carry, while it leads. */
        leaseRevision: z.number().int().nullable(),
        /** Leading but not acting yet: importing the journal and settling unfinished moves (tried again until it works). */
        takingCharge: z
          .object({ sinceMs: EpochMs, failedAttempts: z.number().int().nonnegative(), lastError: z.string().nullable() })
          .nullable()
          .optional(),
      }),
      nats: z.object({
        connected: z.boolean(),
        server: z.string().nullable(),
        serverName: z.string().nullable(),
        cluster: z.string().nullable(),
        knownServers: z.array(z.string()),
        /** The lease bucket's replicas: the NATS server leading it and whether each other one is caught up. */
        leaseReplicas: z
          .object({
            leader: z.string().nullable(),
            replicas: z.array(z.object({ name: z.string(), current: z.boolean(), offline: z.boolean() })),
          })
          .nullable(),
      }),
    })
    .optional(),
});
export type StatusResponse = z.infer<typeof StatusResponse>;

// ---------------------------------------------------------------------------------------------
// Plans

export const PlanKinds = ["balance", "consolidate", "drain"] as const;
export const PlanKind = z.enum(PlanKinds);
export type PlanKind = z.infer<typeof PlanKind>;

export const PlanRequest = z
  .object({
    kind: PlanKind,
    /** Required for drain: the host to empty. */
    host: HostId.optional(),
  })
  .strict()
  .refine((r) => r.kind !== "drain" || r.host !== undefined, { message: "required when kind is drain", path: ["host"] });
export type PlanRequest = z.infer<typeof PlanRequest>;

export const ApiPlanStep = z.object({
  index: z.number().int().nonnegative(),
  kind: z.enum(["migrate", "power-off", "wake"]),
  vm: z.string().nullable(),
  source: HostId.nullable(),
  destination: HostId.nullable(),
  /** power-off / wake: the host. */
  host: HostId.nullable(),
  dependsOn: z.array(z.number().int().nonnegative()),
  /** Machine-readable reason (policy step code) and its text. */
  code: z.string(),
  reason: z.string(),
  policy: z.string(),
  cost: NonNegNum.nullable(),
  strategy: z.string().nullable(),
  predictedDurationMs: NonNegNum.nullable(),
  predictedDowntimeMs: NonNegNum.nullable(),
  /** Set once the plan runs: the migration or power action that carries the step out. */
  migrationId: Id.nullable(),
  state: z.enum(["pending", "running", "done", "failed", "skipped"]),
  note: z.string().nullable(),
});
export type ApiPlanStep = z.infer<typeof ApiPlanStep>;

/** `rejected`: an operator rejected it; `expired`: it waited longer than planTtlMs. */
export const PlanStatuses = ["proposed", "approved", "running", "done", "failed", "superseded", "expired", "rejected"] as const;

export const ApiPlan = z.object({
  id: Id,
  kind: PlanKind,
  policy: z.string(),
  host: HostId.nullable(),
  status: z.enum(PlanStatuses),
  /** Who asked: "api:<token name>", "schedule:balance", "maintenance:<id>", ... */
  requestedBy: z.string(),
  /** Who approved or rejected it ("api:<token name>"); null when no one did (automatic, expired, still proposed). */
  decidedBy: z.string().nullable().optional(),
  createdAtMs: EpochMs,
  updatedAtMs: EpochMs,
  steps: z.array(ApiPlanStep),
  notMoved: z.array(z.object({ vm: z.string(), host: HostId, code: z.string(), reason: z.string() })),
  blocked: z.array(
    z.object({ rule: z.string(), code: z.string(), reason: z.string(), vms: z.array(z.string()), hosts: z.array(z.string()) }),
  ),
  deferred: z.array(z.object({ index: z.number().int(), code: z.string(), reason: z.string() })),
  metrics: z.object({
    imbalanceBefore: z.number(),
    imbalanceAfter: z.number(),
    activeHostsBefore: z.number().int(),
    activeHostsAfter: z.number().int(),
    totalMigrationCost: z.number(),
  }),
});
export type ApiPlan = z.infer<typeof ApiPlan>;

/**
 * `POST /v1/modes/{kind}`: what a policy's plans do from now on (persisted; a later change of the config
 * file's policies wins). For drain: off refuses new drains, recommend stores each drain plan for approval.
 */
export const RunTimeModeKinds = ["balance", "consolidate", "drain"] as const;
export const ModeRequest = z.object({ mode: PolicyMode }).strict();
export type ModeRequest = z.infer<typeof ModeRequest>;
export const ModesResponse = z.object({ modes: z.object({ balance: PolicyMode, consolidate: PolicyMode, drain: PolicyMode }) });
export type ModesResponse = z.infer<typeof ModesResponse>;
export const PlansResponse = z.object({ plans: z.array(ApiPlan) });
export type PlansResponse = z.infer<typeof PlansResponse>;

// ---------------------------------------------------------------------------------------------
// Migrations

/** `host` names the destination; with `cluster` (a move to another cluster) it may be left out: the scheduler chooses. */
export const MigrateRequest = z
  .object({ vm: VmRef, host: HostId.optional(), cluster: ClusterName.optional() })
  .strict()
  .refine((r) => r.host !== undefined || r.cluster !== undefined, {
    message: "names no destination: give host, cluster, or both",
    path: ["host"],
  });
export type MigrateRequest = z.infer<typeof MigrateRequest>;

/** `cancelled`: never started (the VM or a host changed before the send; or lost on a restart). */
export const ApiMigrationStates = ["queued", "preflight", "running", "succeeded", "failed", "aborted", "timed-out", "cancelled"] as const;
/** The states in which a move has ended: an agent's outcome, or never started. The others: under way. */
export const ApiMigrationEnded: ReadonlySet<(typeof ApiMigrationStates)[number]> = new Set([...MigrationOutcomes, "cancelled"]);

export const ApiMigrationProgress = z.object({
  timeMs: EpochMs,
  elapsedMs: NonNegNum,
  phase: z.string(),
  dataTotalBytes: NonNegNum,
  dataProcessedBytes: NonNegNum,
  dataRemainingBytes: NonNegNum,
  /** 0..1, from processed / total. */
  fraction: z.number().min(0).max(1),
  iteration: z.number().int().nonnegative(),
  escalations: z.array(z.string()),
});

export const ApiMigration = z.object({
  id: Id,
  vm: z.string(),
  vmUuid: z.string().nullable(),
  source: HostId,
  destination: HostId,
  /** The destination's cluster when the move leaves this one; null: this cluster. */
  destinationCluster: ClusterName.nullable().default(null),
  state: z.enum(ApiMigrationStates),
  /** "api:<token name>", "plan:<id>", "maintenance:<id>", ... */
  requestedBy: z.string(),
  reason: z.string(),
  planId: Id.nullable(),
  /** The migrate command's id (idempotency key sent to the agent). */
  commandId: Id,
  createdAtMs: EpochMs,
  startedAtMs: EpochMs.nullable(),
  endedAtMs: EpochMs.nullable(),
  predictedDurationMs: NonNegNum.nullable(),
  predictedDowntimeMs: NonNegNum.nullable(),
  measuredDurationMs: NonNegNum.nullable(),
  measuredDowntimeMs: NonNegNum.nullable(),
  /** The strategy the cost model chose (live, live-auto-converge, post-copy, pause-and-copy), null without a prediction. */
  strategy: z.string().nullable().default(null),
  /** What completed it, as its agent measured (live, auto-converge, post-copy, offline, ...; "unknown" when not measured). */
  completedBy: z.string().nullable().default(null),
  progress: ApiMigrationProgress.nullable(),
  /** Where the VM runs now as last verified (agent result or reports). */
  vmRunningOn: HostId.nullable(),
  error: ErrorInfo.nullable(),
});
export type ApiMigration = z.infer<typeof ApiMigration>;
export const MigrationsResponse = z.object({ migrations: z.array(ApiMigration) });
export type MigrationsResponse = z.infer<typeof MigrationsResponse>;

// ---------------------------------------------------------------------------------------------
// Maintenance

/** `toCluster`: the VMs go to that cluster's hosts (one of the scheduler's `peerClusters`), evacuating a site. */
export const DrainRequest = z.object({ powerOff: z.boolean().default(false), toCluster: ClusterName.optional() }).strict();
export type DrainRequest = z.infer<typeof DrainRequest>;

export const ApiMaintenanceStates = ["draining", "blocked", "in-maintenance", "powered-off", "ended", "failed"] as const;

export const ApiBlocker = z.object({ vm: z.string(), code: z.string(), reason: z.string() });

export const ApiMaintenance = z.object({
  id: Id,
  host: HostId,
  state: z.enum(ApiMaintenanceStates),
  powerOff: z.boolean(),
  requestedBy: z.string(),
  requestedAtMs: EpochMs,
  updatedAtMs: EpochMs,
  endedAtMs: EpochMs.nullable(),
  vmsAtStart: z.number().int().nonnegative(),
  vmsLeft: z.number().int().nonnegative(),
  migrations: z.array(Id),
  /** Why each remaining VM cannot leave (state "blocked"). */
  blockers: z.array(ApiBlocker),
  message: z.string(),
  /** The cluster the drain sends the VMs to; null: hosts of this cluster. */
  toCluster: ClusterName.nullable().default(null),
});
export type ApiMaintenance = z.infer<typeof ApiMaintenance>;

// ---------------------------------------------------------------------------------------------
// Power

export const PowerRequest = z.object({ action: z.enum(["off", "on"]) }).strict();
export type PowerRequest = z.infer<typeof PowerRequest>;

export const ApiPowerAction = z.object({
  id: Id,
  host: HostId,
  action: z.enum(["off", "on"]),
  /** "agent" (power-off), "wol", "peer-wol", "ipmi". */
  method: z.string().nullable(),
  state: z.enum(["pending", "done", "failed", "refused"]),
  requestedBy: z.string(),
  reason: z.string(),
  requestedAtMs: EpochMs,
  endedAtMs: EpochMs.nullable(),
  error: ErrorInfo.nullable(),
});
export type ApiPowerAction = z.infer<typeof ApiPowerAction>;

// ---------------------------------------------------------------------------------------------
// History

export const HistoryKinds = ["plan", "migration", "maintenance", "power", "config", "host", "command", "webhook"] as const;

export const HistoryQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    kind: z.enum(HistoryKinds).optional(),
    sinceMs: z.coerce.number().int().nonnegative().optional(),
    /** Only entries that involve this host. */
    host: HostId.optional(),
    /** Only entries that involve this VM (name or uuid). */
    vm: VmRef.optional(),
  })
  .strict();
export type HistoryQuery = z.infer<typeof HistoryQuery>;

export const ApiHistoryEntry = z.object({
  timeMs: EpochMs,
  kind: z.enum(HistoryKinds),
  /** Id of the plan / migration / maintenance / power action; for a command, the command's id. */
  id: z.string(),
  summary: z.string(),
  host: HostId.nullable(),
  vm: z.string().nullable(),
  outcome: z.string().nullable(),
  /**
   * Who asked: "api:<token name>", "schedule:balance", "maintenance:<id>", ... (null for kinds without one).
   * For a command, who its sender claimed to be; the summary says when this scheduler did not send it.
   */
  requestedBy: z.string().nullable().optional(),
});
export type ApiHistoryEntry = z.infer<typeof ApiHistoryEntry>;
export const HistoryResponse = z.object({ entries: z.array(ApiHistoryEntry) });
export type HistoryResponse = z.infer<typeof HistoryResponse>;

// ---------------------------------------------------------------------------------------------
// Dashboard (GET /v1/dashboard, and each `dashboard` event of GET /v1/dashboard/events)

/** A host on the dashboard's map: its API view plus what the map draws against the band. */
export const ApiDashboardHost = ApiHost.extend({
  /** Share of its VMs' vCPU time spent waiting (0..1); null while its reports are not fresh. */
  contention: NonNegNum.nullable(),
  /** Estimated draw from the configured idle/full-load watts; null without them. */
  watts: NonNegNum.nullable(),
});
export type ApiDashboardHost = z.infer<typeof ApiDashboardHost>;

/** One sample of the day's timeline, taken by the scheduler while it runs. */
export const ApiTimelinePoint = z.object({
  timeMs: EpochMs,
  /** Hosts not in standby (on, waking or draining). */
  activeHosts: z.number().int().nonnegative(),
  migrationsInFlight: z.number().int().nonnegative(),
  /** Estimated draw of every host with configured watts, and what they would draw all on (standby hosts idle). */
  watts: NonNegNum.nullable(),
  allOnWatts: NonNegNum.nullable(),
});
export type ApiTimelinePoint = z.infer<typeof ApiTimelinePoint>;

export const ApiDashboard = z.object({
  cluster: z.string(),
  nowMs: EpochMs,
  modes: z.object({ balance: PolicyMode, consolidate: PolicyMode, drain: PolicyMode }),
  /** The consolidation band (fractions of CPU) the map draws each host against; null when its policy has none. */
  band: z.object({ low: z.number(), high: z.number() }).nullable(),
  hosts: z.array(ApiDashboardHost),
  vms: z.array(ApiVm),
  /** Not ended (queued, preflight, running), oldest first. */
  inFlight: z.array(ApiMigration),
  /** The last ones that ended, newest first. */
  recent: z.array(ApiMigration),
  /** Plans awaiting approval, then the latest others, newest first. */
  plans: z.array(ApiPlan),
  /** Open drains and maintenance, then the ones that ended in the last day, newest first. */
  maintenance: z.array(ApiMaintenance),
  timeline: z.object({
    /** Since when the scheduler has sampled (its start, or the day's beginning). */
    sinceMs: EpochMs,
    points: z.array(ApiTimelinePoint),
    /** Migrations created in the last day, for the timeline's marks. */
    migrations: z.array(z.object({ timeMs: EpochMs, vm: z.string(), state: z.enum(ApiMigrationStates) })),
    /** Energy estimated over the samples, and against every host on; null without configured watts. */
    energyWh: NonNegNum.nullable(),
    allOnEnergyWh: NonNegNum.nullable(),
  }),
});
export type ApiDashboard = z.infer<typeof ApiDashboard>;
/** One host's or VM's load as recorded (`drover history load`); neither: the cluster's total VM demand. */
export const LoadHistoryQuery = z
  .object({
    host: HostId.optional(),
    /** A VM's name or uuid. */
    vm: VmRef.optional(),
    /** Default: the last 24 h. */
    sinceMs: z.coerce.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((q) => q.host === undefined || q.vm === undefined, { message: "give host or vm, not both", path: ["vm"] });
export type LoadHistoryQuery = z.infer<typeof LoadHistoryQuery>;

export const LoadPointView = z.object({
  timeMs: EpochMs,
  /** 0: a full-resolution sample; 300000: a 5-minute bucket of `samples` of them. */
  bucketMs: z.number().int().nonnegative(),
  samples: z.number().int().positive(),
  cpuMhz: z.number(),
  cpuMaxMhz: z.number(),
  memoryMiB: z.number(),
  memoryMaxMiB: z.number(),
});
export type LoadPointView = z.infer<typeof LoadPointView>;

export const LoadHistoryResponse = z.object({
  kind: z.enum(["host", "vm", "cluster"]),
  id: z.string(),
  points: z.array(LoadPointView),
  /** The seasonal forecast fitted on this series (daily and weekly patterns and the trend). */
  forecast: z.object({
    /** One-step mean absolute percentage error over the last week (fraction); null before a day of history. */
    mape: z.number().nullable(),
    /** A whole day has been seen (the daily pattern is in the forecast). */
    seasonal: z.boolean(),
    fromMs: EpochMs,
    stepMs: z.number().int().positive(),
    cpuMhz: z.array(z.number()),
  }),
});
export type LoadHistoryResponse = z.infer<typeof LoadHistoryResponse>;

/** The cluster's recorded load over a period, for `drover simulate --from-history` (5-minute grid). */
export const LoadReplayQuery = z
  .object({
    /** Default: the last 7 days. */
    sinceMs: z.coerce.number().int().nonnegative().optional(),
  })
  .strict();
export type LoadReplayQuery = z.infer<typeof LoadReplayQuery>;

export const LoadReplayResponse = z.object({
  cluster: z.string(),
  startMs: EpochMs,
  stepMs: z.number().int().positive(),
  steps: z.number().int().nonnegative(),
  hosts: z.array(
    z.object({
      id: z.string(),
      cpus: z.number().int().positive(),
      mhz: z.number().positive(),
      memoryMiB: z.number().positive(),
      /** Configured watts idle and at full CPU (`hosts.<id>.power`), null when not configured. */
      idleW: z.number().nullable(),
      maxW: z.number().nullable(),
    }),
  ),
  vms: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      vcpus: z.number().int().positive(),
      memoryMiB: z.number().positive(),
      /** Mean CPU demand per step; null where the VM did not report. */
      cpuMhz: z.array(z.number().nullable()),
    }),
  ),
  /** What really happened in the period, from the store. */
  actual: z.object({
    migrations: z.number().int().nonnegative(),
    /** Hosts reporting, averaged over the steps. */
    activeHostsMean: z.number().nonnegative(),
    /** From the hosts' CPU and their configured watts; null when no host has them. */
    energyKwh: z.number().nullable(),
  }),
});
export type LoadReplayResponse = z.infer<typeof LoadReplayResponse>;
