// What the HTTP API uses of the scheduler, and nothing more: the Scheduler fills this in when it
// starts the server, so the API depends on these calls and not on how the scheduler is built.
import type { Logger } from "@drover/protocol";
import type { MigrationRow, Store } from "@drover/store";
import type { Clock } from "../clock.js";
import type { ClusterState } from "../cluster-state.js";
import type { SchedulerConfig } from "../config.js";
import type { Dispatcher } from "../dispatcher.js";
import type { Maintenance } from "../maintenance.js";
import type { Metrics } from "../metrics.js";
import type { Modes } from "../modes.js";
import type { Planner } from "../planner.js";
import type { PowerManager } from "../power/power-manager.js";
import type { TokenBook } from "./tokens.js";
import type { ConnectionInfo } from "@drover/bus";
import type { Leadership } from "../leadership.js";
import type { StoreHealth } from "../store-health.js";
import type { LoadForecasts } from "../load-history-forecast.js";

/** Store reads behind the GET routes (every write goes through a service). */
export interface StoreReads {
  plans: Pick<Store["plans"], "get" | "list">;
  migrations: Pick<Store["migrations"], "get" | "list" | "inFlight">;
  maintenance: Pick<Store["maintenance"], "active" | "allActive" | "list">;
  power: Pick<Store["power"], "get">;
  history: Store["history"];
  load: Pick<Store["load"], "series" | "ids">;
  hosts: Pick<Store["hosts"], "list">;
  vms: Pick<Store["vms"], "get">;
}

export interface SchedulerApi {
  readonly config: SchedulerConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly startedAtMs: number;
  /** Hosts, VMs and their states as the reports show them. */
  readonly state: ClusterState;
  readonly store: StoreReads;
  /** The registry /metrics serves, and its sources (host usage and watts) the dashboard reuses. */
  readonly metrics: Pick<Metrics, "registry" | "sources" | "apiAuthFailures">;
  readonly planner: Pick<Planner, "make" | "approve" | "reject">;
  /** Operator moves, their progress, and the queue's size. */
  readonly moves: Pick<Dispatcher, "submit" | "abort" | "progressOf" | "inFlightCount" | "queuedCount">;
  readonly maintenance: Pick<Maintenance, "drain" | "undrain" | "get" | "toApi">;
  readonly power: Pick<PowerManager, "requestPowerOff" | "requestWake">;
  /** Policy modes and the consolidation window in force, set at run time too. */
  readonly modes: Pick<Modes, "modes" | "window" | "set" | "schedules" | "setSchedule">;
  /** Reports refused, by reason: `invalid` (bad JSON, schema, size) and the scheduler's drops. */
  rejectedReports(): Record<string, number>;
  /** Where a move's VM is reported now (peer-clusters.ts whereVmIs): this cluster's picture, or the peer's it went to. */
  vmRunningOn(row: MigrationRow): string | null;
  /** `drover migrate VM --cluster B [HOST]`: one move to a host of a peer cluster (peer-clusters.ts moveAcross). */
  moveAcross(vm: string, cluster: string, host: string | undefined, by: string): MigrationRow;
  /** Removes a host that no longer exists; refused (RefusedError) while it reports or is in use. */
  forgetHost(id: string, by: string): { vms: number };
  /** Whether this scheduler leads (a follower refuses changes, naming the leader) and the lease's NATS replicas. */
  readonly leadership: Pick<Leadership, "mayAct" | "notLeader" | "status" | "leaseReplicas">;
  /** Whether the store takes writes (changes are refused while it does not). */
  readonly storeHealth: Pick<StoreHealth, "status">;
  /** The NATS connection's view of the servers. */
  nats(): ConnectionInfo;
  /** Seasonal forecasts fitted on the load history (a series' on demand). */
  readonly forecasts: Pick<LoadForecasts, "forSeries">;
  /** The API's own credentials: who may call it, and the token routes. */
  readonly tokens: Pick<TokenBook, "authenticate" | "create" | "revoke" | "list">;
}
