// Who may act. With leadership on, schedulers of one cluster contend for a leader lease in a
// replicated JetStream KV bucket (@drover/bus LeaderLease): the leader plans, dispatches and sends;
// followers ingest reports and serve reads. Off (one NATS server, by default): this scheduler always acts.
import { hostname } from "node:os";
import { LeaderLease, type Bus, type LeaseRole } from "@drover/bus";
import { urlOf, type Logger } from "@drover/protocol";
import type { SchedulerConfig } from "./config.js";
import { RefusedError } from "./errors.js";

export interface LeadershipSettings {
  enabled: boolean;
  id: string;
  ttlMs: number;
  replicas: number;
  /** Where this scheduler's API answers, as followers tell callers. */
  apiUrl: string | undefined;
}

/** The one place the leadership defaults are decided: on with more than one NATS server, 3 replicas at most. */
export function leadershipSettings(config: SchedulerConfig): LeadershipSettings {
  const l = config.leadership;
  const servers = config.nats.servers.length;
  return {
    enabled: l.enabled ?? servers > 1,
    id: l.id ?? `${hostname()}:${config.http.port}`,
    ttlMs: l.ttlMs,
    replicas: l.replicas ?? Math.min(3, servers),
    apiUrl: l.apiUrl ?? listenUrl(config.http),
  };
}

/** Listening on every address: a URL with it would send a caller on another machine to its own. */
const WILDCARD = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * The API's URL as followers can name it without `leadership.apiUrl`: none when the listen address
 * names no one machine (port 0 is any free port, known only once bound; a wildcard host).
 */
function listenUrl(http: SchedulerConfig["http"]): string | undefined {
  if (http.port === 0 || WILDCARD.has(http.host)) return undefined;
  return urlOf(http.tls ? "https" : "http", http.host, http.port);
}

export interface LeadershipStatus {
  enabled: boolean;
  self: string;
  leading: boolean;
  leader: { id: string; apiUrl: string | null } | null;
  /** The fencing token while leading. */
  leaseRevision: number | null;
  /** Leading, but still importing the journal and settling unfinished moves: nothing is sent yet. */
  takingCharge: TakingCharge | null;
}

export interface TakingCharge {
  sinceMs: number;
  /** Attempts that failed so far, and the last one's cause. */
  failedAttempts: number;
  lastError: string | null;
}

export class Leadership {
  private taking: TakingCharge | null = null;

  private constructor(
    readonly settings: LeadershipSettings,
    private readonly lease: LeaderLease | undefined,
  ) {}

  /** Opens the lease when leadership is on (contending starts with start()); otherwise always leading. */
  static async open(bus: Bus, settings: LeadershipSettings, cluster: string, log: Logger): Promise<Leadership> {
    if (!settings.enabled) return new Leadership(settings, undefined);
    if (settings.apiUrl === undefined)
      log.warn({ id: settings.id }, "followers cannot name this scheduler's API while it leads: set leadership.apiUrl");
    const lease = await LeaderLease.open(bus, {
      key: cluster,
      holder: { id: settings.id, ...(settings.apiUrl ? { apiUrl: settings.apiUrl } : {}) },
      ttlMs: settings.ttlMs,
      replicas: settings.replicas,
      logger: log,
    });
    return new Leadership(settings, lease);
  }

  get enabled(): boolean {
    return this.lease !== undefined;
  }

  /** Checked before anything is planned, dispatched or sent: false the moment the lease is lost or lapses. */
  mayAct(): boolean {
    return this.lease ? this.lease.isLeading() : true;
  }

  /** The lease revision every command carries while leading (undefined without leadership). */
  fence(): number | undefined {
    return this.lease?.revision;
  }

  /** Calls back with true on becoming leader and false on losing it. Without leadership: never. */
  onChange(listener: (leading: boolean) => void): void {
    let leading = false;
    this.lease?.onChange((role: LeaseRole) => {
      if ((role.kind === "leader") === leading) return;
      leading = role.kind === "leader";
      listener(leading);
    });
  }

  start(): void {
    this.lease?.start();
  }

  /** The scheduler began taking charge (it leads, or it is the only one). */
  takingCharge(sinceMs: number): void {
    this.taking = { sinceMs, failedAttempts: 0, lastError: null };
  }

  chargeFailed(attempt: number, error: string): void {
    if (this.taking) this.taking = { ...this.taking, failedAttempts: attempt, lastError: error };
  }

  /** Took charge: it acts. */
  tookCharge(): void {
    this.taking = null;
  }

  /** Stops contending; a leader releases the lease so a follower takes over at once. */
  async stop(): Promise<void> {
    await this.lease?.stop();
  }

  status(): LeadershipStatus {
    const { id, apiUrl } = this.settings;
    const self = { id, apiUrl: apiUrl ?? null };
    const takingCharge = this.taking;
    if (!this.lease) return { enabled: false, self: id, leading: true, leader: self, leaseRevision: null, takingCharge };
    const role = this.lease.role;
    if (role.kind === "leader") return { enabled: true, self: id, leading: true, leader: self, leaseRevision: role.revision, takingCharge };
    const l = role.leader;
    const leader = l ? { id: l.id, apiUrl: l.apiUrl ?? null } : null;
    return { enabled: true, self: id, leading: false, leader, leaseRevision: null, takingCharge: null };
  }

  /** The lease bucket's NATS replicas (undefined without leadership or before the bucket exists). */
  async leaseReplicas() {
    return this.lease?.replicas();
  }

  /** What a follower answers to a change: which scheduler leads and where. */
  notLeader(): RefusedError {
    const s = this.status();
    const where = s.leader
      ? `scheduler "${s.leader.id}"${s.leader.apiUrl ? ` at ${s.leader.apiUrl}` : ""} leads; send changes there`
      : "it knows of no leader right now (none holds the lease, or the holder's record has not reached it yet); try again in a few seconds";
    return new RefusedError("not-leader", `scheduler "${s.self}" follows and changes nothing: ${where}`);
  }
}
