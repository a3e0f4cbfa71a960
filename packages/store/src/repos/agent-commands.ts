import type Database from "better-sqlite3";
import { bool, epochMs, errorRecordOrNull, fromJson, oneOf, text, textOrNull, toJson } from "../check.js";
import { StoreError, StoreErrorCodes } from "../errors.js";
import {
  AgentCommandKinds,
  AgentCommandOutcomes,
  type AgentCommandDestination,
  type AgentCommandInput,
  type AgentCommandKind,
  type AgentCommandOutcome,
  type AgentCommandRow,
  type ErrorRecord,
} from "../types.js";

interface AgentCommandSql {
  seq: number;
  host: string;
  command_id: string;
  kind: string;
  issued_by: string;
  issued_here: number;
  vm: string | null;
  destination: string;
  outcome: string;
  duplicate: number;
  error: string | null;
  agent_time_ms: number;
  at_ms: number;
}

function toRow(r: AgentCommandSql): AgentCommandRow {
  const key = String(r.seq);
  return {
    seq: r.seq,
    host: r.host,
    commandId: r.command_id,
    kind: r.kind as AgentCommandKind,
    issuedBy: r.issued_by,
    issuedHere: r.issued_here === 1,
    vm: r.vm,
    destination: fromJson("agent_commands", key, "destination", r.destination) as AgentCommandDestination | null,
    outcome: r.outcome as AgentCommandOutcome,
    duplicate: r.duplicate === 1,
    error: fromJson("agent_commands", key, "error", r.error) as ErrorRecord | null,
    agentTimeMs: r.agent_time_ms,
    atMs: r.at_ms,
  };
}

function destinationOrNull(where: string, v: unknown): string {
  if (v === null || v === undefined) return "null";
  const d = v as { host?: unknown; uri?: unknown; hostUuid?: unknown };
  if (typeof v !== "object" || Array.isArray(v) || typeof d.host !== "string" || typeof d.uri !== "string") {
    throw new StoreError(
      StoreErrorCodes.InvalidInput,
      `${where}: destination must be { host, uri, hostUuid? } or null, got ${JSON.stringify(v) ?? String(v)}`,
    );
  }
  return toJson(where, "destination", { host: d.host, uri: d.uri, ...(d.hostUuid === undefined ? {} : { hostUuid: d.hostUuid }) });
}

/** Commands agents ran, as their `command` events said; one row per (host, command id, outcome). */
export class AgentCommands {
  readonly #insert: Database.Statement;
  readonly #bySeq: Database.Statement<[number | bigint], AgentCommandSql>;
  readonly #list: Database.Statement<
    { host: string | null; vm: string | null; since: number | null; foreign: number; limit: number },
    AgentCommandSql
  >;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`
      INSERT INTO agent_commands (host, command_id, kind, issued_by, issued_here, vm, destination, outcome, duplicate, error, agent_time_ms, at_ms)
      VALUES (@host, @commandId, @kind, @issuedBy, @issuedHere, @vm, @destination, @outcome, @duplicate, @error, @agentTimeMs, @atMs)
      ON CONFLICT (host, command_id, outcome) DO NOTHING`);
    this.#bySeq = db.prepare("SELECT * FROM agent_commands WHERE seq = ?");
    this.#list = db.prepare(`
      SELECT * FROM agent_commands WHERE (@host IS NULL OR host = @host) AND (@since IS NULL OR at_ms >= @since)
        AND (@foreign = 0 OR issued_here = 0) AND (@vm IS NULL OR vm = @vm)
      ORDER BY at_ms DESC, seq DESC LIMIT @limit`);
  }

  /** Records one command event; null when that (host, command id, outcome) is already recorded. */
  record(c: AgentCommandInput): AgentCommandRow | null {
    const w = "agentCommands.record";
    const info = this.#insert.run({
      host: text(w, "host", c.host),
      commandId: text(w, "commandId", c.commandId),
      kind: oneOf(w, "kind", AgentCommandKinds, c.kind),
      issuedBy: text(w, "issuedBy", c.issuedBy),
      issuedHere: bool(w, "issuedHere", c.issuedHere) ? 1 : 0,
      vm: textOrNull(w, "vm", c.vm),
      destination: destinationOrNull(w, c.destination),
      outcome: oneOf(w, "outcome", AgentCommandOutcomes, c.outcome),
      duplicate: bool(w, "duplicate", c.duplicate) ? 1 : 0,
      error: errorRecordOrNull(w, "error", c.error),
      agentTimeMs: epochMs(w, "agentTimeMs", c.agentTimeMs),
      atMs: epochMs(w, "atMs", c.atMs),
    });
    return info.changes === 0 ? null : toRow(this.#bySeq.get(info.lastInsertRowid) as AgentCommandSql);
  }

  /** Newest first. `notIssuedHere`: only commands this scheduler did not send. `vm`: the VM the command named. */
  list(opts: { host?: string; vm?: string; since?: number; notIssuedHere?: boolean; limit?: number } = {}): AgentCommandRow[] {
    return this.#list
      .all({
        host: opts.host ?? null,
        vm: opts.vm ?? null,
        since: opts.since ?? null,
        foreign: opts.notIssuedHere ? 1 : 0,
        limit: opts.limit ?? 100,
      })
      .map(toRow);
  }
}
