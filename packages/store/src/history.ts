import type { AgentCommands } from "./repos/agent-commands.js";
import type { ConfigChanges } from "./repos/config.js";
import type { Maintenance } from "./repos/maintenance.js";
import type { Migrations } from "./repos/migrations.js";
import type { HostEvents } from "./repos/host-events.js";
import type { Plans } from "./repos/plans.js";
import type { Power } from "./repos/power.js";
import type { WebhookFailures } from "./repos/webhook-failures.js";
import {
  planStatusShown,
  type AgentCommandRow,
  type HistoryEntry,
  type HistoryKind,
  type HostEventRow,
  type MigrationRow,
} from "./types.js";

export interface HistoryQuery {
  /** Default 100. */
  limit?: number;
  /** Entries at or after this time. */
  since?: number;
  /** Only these kinds (default: all). */
  kinds?: readonly HistoryKind[];
  /** Only entries that involve this host (config changes involve none). */
  host?: string;
  /**
   * Only entries that involve this VM: its uuid (migrations, commands and plan steps) or name (plan
   * steps). Maintenance, power, config and host entries involve no one VM and are left out.
   */
  vm?: string;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function migrationSummary(m: MigrationRow): string {
  let s = `migrate ${m.vmName} ${m.source} -> ${m.destination}: ${m.status}`;
  if (m.status === "succeeded" && m.measuredDurationMs !== null) {
    s += ` in ${seconds(m.measuredDurationMs)}`;
    s += m.measuredDowntimeMs === null ? ", downtime unknown" : `, downtime ${Math.round(m.measuredDowntimeMs)} ms`;
    if (m.completedBy !== null && m.completedBy !== "live")
      s += ` (${m.completedBy === "unknown" ? "not measured by its agent" : `by ${m.completedBy}`})`;
  }
  if (m.error) s += `: ${m.error.code}: ${m.error.message}`;
  return `${s} [${m.requestedBy}: ${m.reason}]`;
}

/** Loud when the scheduler did not send it: that is someone else commanding an agent. */
function commandSummary(c: AgentCommandRow): string {
  let s = `${c.issuedHere ? "" : "NOT ISSUED BY THIS SCHEDULER: "}command ${c.kind} ${c.commandId} on ${c.host}`;
  if (c.vm !== null) s += ` of ${c.vm}`;
  if (c.destination !== null) s += ` to ${c.destination.host} (${c.destination.uri})`;
  s += `: ${c.outcome}${c.duplicate ? " (duplicate)" : ""}`;
  if (c.error) s += `: ${c.error.code}: ${c.error.message}`;
  return `${s} [issued by ${JSON.stringify(c.issuedBy)}${c.issuedHere ? "" : ", unverified"}]`;
}

function hostEventSummary(e: HostEventRow): string {
  const what = e.event === "state" ? `host ${e.host}: ${e.fromState ?? "?"} -> ${e.toState ?? "?"}` : `host ${e.host}: agent: ${e.event}`;
  return e.detail ? `${what} (${e.detail})` : what;
}

function newestFirst(a: HistoryEntry, b: HistoryEntry): number {
  if (a.atMs !== b.atMs) return b.atMs - a.atMs;
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  // Within a kind, the same order as its list(): config and commands by sequence number, the rest by id.
  if (a.kind === "config" && b.kind === "config") return b.row.seq - a.row.seq;
  if (a.kind === "command" && b.kind === "command") return b.row.seq - a.row.seq;
  if (a.kind === "host" && b.kind === "host") return b.row.seq - a.row.seq;
  if (a.kind === "webhook" && b.kind === "webhook") return b.row.seq - a.row.seq;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

export interface HistorySources {
  migrations: Migrations;
  plans: Plans;
  maintenance: Maintenance;
  power: Power;
  config: ConfigChanges;
  agentCommands: AgentCommands;
  hostEvents: HostEvents;
  webhookFailures: WebhookFailures;
}

/**
 * Newest first, ties broken by kind then id so the order is stable. Each kind contributes at most
 * `limit` rows (newest), so the merge is exact for the first `limit` entries.
 */
export function history(src: HistorySources, q: HistoryQuery = {}): HistoryEntry[] {
  const limit = q.limit ?? 100;
  const { host, vm } = q;
  // A kind whose rows name no VM (or no host) has nothing to show under that filter.
  const want = (k: HistoryKind, hasHost: boolean, hasVm: boolean): boolean =>
    (q.kinds === undefined || q.kinds.includes(k)) && (host === undefined || hasHost) && (vm === undefined || hasVm);
  const f = {
    limit,
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(host !== undefined ? { host } : {}),
  };
  const fv = { ...f, ...(vm !== undefined ? { vm } : {}) };
  const out: HistoryEntry[] = [];
  if (want("migration", true, true)) {
    for (const row of src.migrations.list(fv)) {
      out.push({ kind: "migration", atMs: row.createdMs, id: row.id, summary: migrationSummary(row), row });
    }
  }
  if (want("plan", true, true)) {
    for (const row of src.plans.list(fv)) {
      const n = row.steps.length;
      // Only an approve or a reject names who decided.
      const decided = row.decidedBy === null ? "" : `, ${row.status === "rejected" ? "rejected" : "approved"} by ${row.decidedBy}`;
      const summary = `plan ${row.kind} (${row.mode}, ${n} step${n === 1 ? "" : "s"}): ${planStatusShown(row)}: ${row.summary} [${row.requestedBy}${decided}]`;
      out.push({ kind: "plan", atMs: row.createdMs, id: row.id, summary, row });
    }
  }
  if (want("maintenance", true, false)) {
    for (const row of src.maintenance.list(f)) {
      const summary = `maintenance ${row.host}${row.powerOff ? " (power off)" : ""}: ${row.status} [${row.requestedBy}]`;
      out.push({ kind: "maintenance", atMs: row.createdMs, id: row.id, summary, row });
    }
  }
  if (want("power", true, false)) {
    for (const row of src.power.list(f)) {
      let summary = `${row.action} ${row.host} via ${row.method}: ${row.status}`;
      if (row.error) summary += `: ${row.error.code}: ${row.error.message}`;
      out.push({ kind: "power", atMs: row.createdMs, id: row.id, summary: `${summary} [${row.requestedBy}: ${row.reason}]`, row });
    }
  }
  if (want("config", false, false)) {
    for (const row of src.config.list(q.since === undefined ? { limit } : { limit, since: q.since })) {
      const summary = `config ${row.key}: ${JSON.stringify(row.oldValue)} -> ${JSON.stringify(row.newValue)} [${row.who}]`;
      out.push({ kind: "config", atMs: row.atMs, id: String(row.seq), summary, row });
    }
  }
  if (want("command", true, true)) {
    for (const row of src.agentCommands.list(fv)) {
      out.push({ kind: "command", atMs: row.atMs, id: row.commandId, summary: commandSummary(row), row });
    }
  }
  if (want("webhook", false, false)) {
    for (const row of src.webhookFailures.list(q.since === undefined ? { limit } : { limit, since: q.since })) {
      const summary = `webhook ${row.event} ${row.eventId} to ${row.receiver} not delivered after ${row.attempts} attempt(s): ${row.error}`;
      out.push({ kind: "webhook", atMs: row.atMs, id: String(row.seq), summary, row });
    }
  }
  if (want("host", true, false)) {
    for (const row of src.hostEvents.list(f)) {
      out.push({ kind: "host", atMs: row.atMs, id: String(row.seq), summary: hostEventSummary(row), row });
    }
  }
  out.sort(newestFirst);
  return out.slice(0, limit);
}
