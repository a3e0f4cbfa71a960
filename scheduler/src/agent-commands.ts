// Every command an agent runs is published by that agent as a `command` event, whoever sent it.
// NATS lets only the scheduler's identity send commands; this is how a command sent with that
// identity by anything but this scheduler (a leaked credential, a second process) still shows:
// each event is recorded in the store (and so in `drover history`), and one whose id and body
// this scheduler did not send is marked as such, counted and logged.
import type { Bus, Subscription } from "@drover/bus";
import { DropLog, HostEvent, hostOfSubject, subjects, type CommandEventInfo, type Logger } from "@drover/protocol";
import type { HostEventKind, Store } from "@drover/store";
import type { AgentClient } from "./agent-client.js";
import type { Clock } from "./clock.js";
import type { Metrics } from "./metrics.js";

export interface AgentCommandLogDeps {
  bus: Bus;
  store: Store;
  agents: AgentClient;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  cluster: string;
  /** At most one log line per host (foreign commands) or subject (bad events) per interval. */
  logIntervalMs: number;
  /** Whether this scheduler records now (the leader does; default always). */
  recording?: () => boolean;
}

/** Hosts whose foreign commands are followed for rate-limited logging; beyond it the map starts over. */
const MAX_WARNED_HOSTS = 1000;

export class AgentCommandLog {
  private readonly sub: Subscription;
  private readonly drops: DropLog;
  private readonly timer: NodeJS.Timeout;
  /** Per host: when the last "not issued" line was written and how many were not written since. */
  private readonly warned = new Map<string, { atMs: number; quiet: number }>();

  constructor(private readonly d: AgentCommandLogDeps) {
    this.drops = new DropLog(d.log, d.logIntervalMs, "host events");
    this.sub = d.bus.subscribe(subjects.allHostEvents(d.cluster), HostEvent, (e, ctx) => this.onEvent(e, ctx.subject));
    this.timer = setInterval(() => this.drops.flush(d.clock.now()), d.logIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }

  /**
   * One host event, valid already (the bus drops and counts invalid ones). `command` events are
   * recorded as agent commands; the agent's lifecycle ones (started, stopping, libvirt down/up,
   * powering off) as host events; per-VM lifecycle events are not history.
   */
  onEvent(e: HostEvent, subject: string): void {
    if (e.kind === "vm-lifecycle" || this.d.recording?.() === false) return;
    const now = this.d.clock.now();
    // The subject says which agent ran it (the server lets a host publish only its own events).
    const host = hostOfSubject(subject);
    const kind = e.kind;
    if (kind !== "command") return this.recordLifecycle({ ...e, kind }, host, subject, now);
    const c = e.command;
    if (!c || host !== e.host) {
      const reason = c ? "wrong-host" : "no-command";
      this.d.metrics.hostEventsRejected.inc({ reason });
      this.drops.note(subject, reason, now, { host: e.host, command: c?.id ?? null });
      return;
    }
    const issuedHere = this.issuedHere(host, c);
    try {
      const row = this.d.store.agentCommands.record({
        host,
        commandId: c.id,
        kind: c.kind,
        issuedBy: c.issuedBy,
        issuedHere,
        vm: c.vm,
        destination: c.destination,
        outcome: c.outcome,
        duplicate: c.duplicate,
        error: c.error,
        agentTimeMs: e.timeMs,
        atMs: now,
      });
      if (!row) return; // already recorded: a replayed event
    } catch (err) {
      this.d.log.error({ err, host, command: c.id }, "agent command not recorded");
      return;
    }
    this.d.metrics.agentCommands.inc({ kind: c.kind, issuer: issuedHere ? "this-scheduler" : "other" });
    if (!issuedHere) this.warnForeign(host, c, now);
  }

  private recordLifecycle(
    e: HostEvent & { kind: Exclude<HostEventKind, "state"> },
    host: string | undefined,
    subject: string,
    now: number,
  ): void {
    if (host !== e.host) {
      this.d.metrics.hostEventsRejected.inc({ reason: "wrong-host" });
      this.drops.note(subject, "wrong-host", now, { host: e.host, event: e.kind });
      return;
    }
    try {
      this.d.store.hostEvents.record({ atMs: now, host, event: e.kind, detail: e.detail });
    } catch (err) {
      this.d.log.error({ err, host, event: e.kind }, "host event not recorded");
    }
  }

  /**
   * Sent by this process (its ledger), or, for the ids the scheduler persists before sending
   * (migrate, power-off), recorded in its store for this host: sent before a restart.
   */
  private issuedHere(host: string, c: CommandEventInfo): boolean {
    if (this.d.agents.issued(host, c)) return true;
    if (c.kind === "migrate") {
      const m = this.d.store.migrations.byCommandId(c.id);
      return m !== undefined && m.source === host && m.vmUuid === c.vm && m.destination === c.destination?.host;
    }
    if (c.kind === "power-off") {
      const p = this.d.store.power.get(c.id);
      return p !== undefined && p.host === host && p.action === "power-off";
    }
    return false;
  }

  private warnForeign(host: string, c: CommandEventInfo, now: number): void {
    const w = this.warned.get(host);
    if (w && now - w.atMs < this.d.logIntervalMs) {
      w.quiet++;
      return;
    }
    if (this.warned.size >= MAX_WARNED_HOSTS) this.warned.clear();
    this.d.log.warn(
      { host, command: c.id, kind: c.kind, issuedBy: c.issuedBy, vm: c.vm, outcome: c.outcome, notLoggedSinceLast: w?.quiet ?? 0 },
      `agent on ${host} ran ${c.kind} ${c.id} (claimed issuer ${JSON.stringify(c.issuedBy)}): NOT issued by this scheduler`,
    );
    this.warned.set(host, { atMs: now, quiet: 0 });
  }
}
