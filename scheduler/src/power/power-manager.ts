// Powers hosts off (through their own agent) and wakes them (WoL from the scheduler or a peer
// agent, or IPMI). Safety invariant 1 is checked here, right before the command, on the freshest
// reports: the policy's power-off rule (`powerOffBlockers`, the one consolidate plans with), plus
// what only the scheduler can see.
import { PowerOffBlockCode, powerOffBlockers, type ClusterSnapshot } from "@drover/policy";
import type { ErrorInfo } from "@drover/protocol";
import type { PowerRow } from "@drover/store";
import type { AgentClient } from "../agent-client.js";
import type { Clock } from "../clock.js";
import type { ClusterState, HostEntry } from "../cluster-state.js";
import type { PowerConfig } from "../config.js";
import { NotFoundError, RefusedError } from "../errors.js";
import { newId } from "../ids.js";
import { maintenanceMode } from "../maintenance-mode.js";
import { IpmiDriver, UdpWolDriver, WakeError, type WakeDriver } from "./wake-drivers.js";
import { WakeLatencies } from "./wake-latency.js";
import type { ServiceDeps } from "../service-deps.js";
import type { Notify } from "../webhooks.js";

export interface WakeDrivers {
  wol: WakeDriver;
  "peer-wol": WakeDriver;
  ipmi: WakeDriver;
}

export interface PowerDeps extends ServiceDeps {
  drivers: Partial<WakeDrivers>;
  /** A migration touches this host (queued or running). */
  dispatcherBusy: (host: string) => boolean;
  /** The planner's input as of now (snapshot.ts): the power-off rule is checked on it. */
  planningSnapshot: () => ClusterSnapshot;
  /** With leadership on: each action under way is kept for the next leader (journal.ts). */
  journal?: PowerJournal;
  /** Webhooks: a host that failed to wake. */
  notify?: Notify;
}

/** Told when a power action opens and when it ends; it must not throw. */
export interface PowerJournal {
  opened(row: PowerRow): void;
  ended(row: PowerRow): void;
}

interface Pending {
  row: PowerRow;
  deadlineMs: number;
  resolve: (r: { ok: boolean; message: string }) => void;
  promise: Promise<{ ok: boolean; message: string }>;
  /** Wake for capacity: on failure, another host is woken instead. */
  replaceOnFailure: boolean;
}

/**
 * A host whose wake failed (refused, or no healthy report by the deadline) is not woken again by a
 * plan or for capacity before this back-off, doubled for each failure in a row up to `maxMs`; an
 * operator's request (api:*) is not held back. A report from the host ends it.
 */
export const WAKE_RETRY_BACKOFF = { firstMs: 5 * 60_000, maxMs: 60 * 60_000 } as const;

/** Asked through the API (`api:TOKEN`): an operator, whom the back-off and a maintenance do not stop. */
const byOperator = (by: string): boolean => /^api(:|$)/.test(by);

export class PowerManager {
  private readonly drivers: WakeDrivers;
  private readonly pending = new Map<string, Pending>();
  private readonly backoff = new Map<string, { failures: number; untilMs: number }>();
  /** Measured wake latencies per host (wake sent -> healthy report): plans time wakes by their p90. */
  readonly wakeLatencies: WakeLatencies;
  private readonly backInService: ((hostId: string) => void)[] = [];

  constructor(private readonly d: PowerDeps) {
    this.wakeLatencies = new WakeLatencies(d, d.state.hosts.keys());
    this.drivers = {
      wol: d.drivers.wol ?? new UdpWolDriver(),
      ipmi: d.drivers.ipmi ?? new IpmiDriver(),
      "peer-wol": d.drivers["peer-wol"] ?? new PeerWolDriver(d.agents, d.state, d.clock),
    };
    d.state.onHostReport((h, wasReachable) => this.onReport(h, wasReachable));
  }

  private cfg(host: string): PowerConfig | undefined {
    return this.d.config.hosts[host]?.power;
  }

  /** The planner's input as of now, which the power-off rule is judged on (the restore plans its wakes on it too). */
  planningSnapshot(): ClusterSnapshot {
    return this.d.planningSnapshot();
  }

  /**
   * Why the host may not be powered off now, or null: the first reason's code, every reason's
   * message. The rule is the policy's, on the snapshot the planner builds from the freshest
   * reports. Checked here besides, because that snapshot cannot show them (and only these):
   * whether the host reports at all (a host without reports is not in the snapshot); whether its
   * latest report still lists a VM (the snapshot already places a VM whose move just ended on its
   * destination); and whether the dispatcher holds a move touching it (the snapshot leaves out
   * moves naming a host it does not hold).
   */
  powerOffBlocker(hostId: string): { code: string; message: string } | null {
    const { state, clock } = this.d;
    const now = clock.now();
    const h = state.hosts.get(hostId);
    if (!h) return { code: PowerOffBlockCode.unknownHost, message: `no host "${hostId}"` };
    if (!state.isReachable(h, now) || !h.report)
      return { code: "refused.not-reporting", message: `${hostId} is not reporting; its VMs cannot be verified` };
    const reasons = powerOffBlockers(this.d.planningSnapshot(), hostId).map((b) =>
      b.code === PowerOffBlockCode.cannotPowerOff ? this.cannotPowerOffWhy(hostId, h.report!) : b,
    );
    const has = (code: string) => reasons.some((r) => r.code === code);
    const listed = state.freshVmCount(hostId, now) ?? 0;
    if (listed > 0 && !has(PowerOffBlockCode.vmsPresent))
      reasons.push({ code: PowerOffBlockCode.vmsPresent, message: `${hostId}'s latest report lists ${listed} VM(s); drain it first` });
    if (this.d.dispatcherBusy(hostId) && !has(PowerOffBlockCode.migrationInFlight))
      reasons.push({ code: PowerOffBlockCode.migrationInFlight, message: `a migration to or from ${hostId} is queued or running` });
    const first = reasons[0];
    return first ? { code: first.code, message: reasons.map((r) => r.message).join("; ") } : null;
  }

  /**
   * The policy sees only `power.canPowerOff` (snapshot.ts): say which setting or report made it
   * false, under the codes the API has always used for these.
   */
  private cannotPowerOffWhy(hostId: string, report: { power: { canPowerOff: boolean } }): { code: string; message: string } {
    const cfg = this.cfg(hostId);
    if (!cfg || cfg.wake === "none")
      return {
        code: "refused.no-wake-method",
        message: `${hostId} has no wake method configured (hosts.${hostId}.power.wake), so Drover will not power it off`,
      };
    if (!cfg.allowPowerOff) return { code: "refused.no-wake-method", message: `hosts.${hostId}.power.allowPowerOff is false` };
    if (!report.power.canPowerOff)
      return { code: "refused.agent-cannot", message: `the agent on ${hostId} reports it cannot power the host off` };
    return { code: PowerOffBlockCode.cannotPowerOff, message: `${hostId} may not be powered off by Drover` };
  }

  /** Powers a host off. Refusals are recorded and thrown as RefusedError. */
  requestPowerOff(hostId: string, by: string, reason: string): PowerRow {
    const { store, clock, state, log, agents, metrics } = this.d;
    const now = clock.now();
    if (!state.hosts.has(hostId)) throw new NotFoundError(`no host "${hostId}"`, "id");
    const busy = this.pendingFor(hostId);
    if (busy) return busy.row;
    const blocker = this.powerOffBlocker(hostId);
    const id = newId("pwr", now);
    if (blocker) {
      store.power.record({
        id,
        host: hostId,
        action: "power-off",
        method: "agent",
        requestedBy: by,
        reason,
        status: "cancelled",
        atMs: now,
        error: blocker,
      });
      metrics.powerActions.inc({ action: "power-off", outcome: "refused" });
      log.warn({ host: hostId, ...blocker }, "power-off refused");
      throw new RefusedError(blocker.code, blocker.message, "id");
    }
    const row = store.power.record({
      id,
      host: hostId,
      action: "power-off",
      method: "agent",
      requestedBy: by,
      reason,
      status: "requested",
      atMs: now,
    });
    const p = this.track(row, now + (this.cfg(hostId)?.powerOffTimeoutMs ?? 120_000), false);
    state.setMode(hostId, "powering-off", now);
    void agents
      .send(hostId, { kind: "power-off", id })
      .then((reply) => {
        if (reply.status === "refused" || reply.status === "failed") {
          this.end(p, "failed", reply.error ?? { code: `agent.${reply.status}`, message: `agent ${reply.status} the power-off` });
          state.setMode(hostId, "normal", clock.now());
        } else if (this.pending.get(hostId) === p) {
          p.row = store.power.update(id, { status: "sent", atMs: clock.now() });
        }
      })
      .catch((e: Error) => {
        // No reply may also mean the host went down at once: the reports decide (tick).
        log.warn({ host: hostId, err: e.message }, "power-off command got no reply");
      });
    return row;
  }

  /** Plan steps: after the host's moves, waits for a fresh report (the invariant is checked on it). */
  async powerOff(host: string, by: string, reason: string): Promise<{ ok: boolean; message: string }> {
    const h = this.d.state.hosts.get(host);
    if (h && this.d.state.vmsOn(host).length === 0 && (h.report?.vms.length ?? 0) > 0) {
      const seen = h.reportCount;
      const end = Date.now() + this.d.state.staleAfterMs;
      while (h.reportCount === seen && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    }
    try {
      this.requestPowerOff(host, by, reason);
    } catch (e) {
      return Promise.resolve({ ok: false, message: (e as Error).message });
    }
    return this.pendingFor(host)?.promise ?? Promise.resolve({ ok: true, message: "done" });
  }

  /** Wakes a host in standby (or one not reporting that has a wake method). */
  requestWake(hostId: string, by: string, reason: string, replaceOnFailure = false): PowerRow {
    const { store, clock, state, log, metrics } = this.d;
    const now = clock.now();
    const h = state.hosts.get(hostId);
    if (!h) throw new NotFoundError(`no host "${hostId}"`, "id");
    const busy = this.pendingFor(hostId);
    if (busy) return busy.row;
    const cfg = this.cfg(hostId);
    const id = newId("pwr", now);
    const st = state.stateOf(h, now);
    const refuse = (code: string, message: string): never => {
      store.power.record({
        id,
        host: hostId,
        action: "wake",
        method: cfg?.wake ?? "none",
        requestedBy: by,
        reason,
        status: "cancelled",
        atMs: now,
        error: { code, message },
      });
      metrics.powerActions.inc({ action: "wake", outcome: "refused" });
      throw new RefusedError(code, message, "id");
    };
    if (st === "healthy" || st === "draining" || st === "maintenance") refuse("refused.already-on", `${hostId} is ${st}: it is on`);
    // Only an operator wakes a host held by a maintenance (it comes back in it); plans and restores do not.
    const maintenance = this.d.store.maintenance.active(hostId);
    if (maintenance && !byOperator(by))
      refuse(
        "refused.in-maintenance",
        `${hostId} is under maintenance ${maintenance.id}: only an operator wakes it (it stays in maintenance)`,
      );
    if (!cfg || cfg.wake === "none") refuse("refused.no-wake-method", `${hostId} has no wake method (hosts.${hostId}.power.wake)`);
    const held = this.backoff.get(hostId);
    if (held && now < held.untilMs && !byOperator(by))
      refuse(
        "refused.wake-backoff",
        `${hostId} failed to wake ${held.failures} time(s) in a row; not woken again before ${new Date(held.untilMs).toISOString()}`,
      );
    const method = cfg!.wake as keyof WakeDrivers;
    const row = store.power.record({ id, host: hostId, action: "wake", method, requestedBy: by, reason, status: "requested", atMs: now });
    const p = this.track(row, now + cfg!.wakeTimeoutMs, replaceOnFailure);
    state.setMode(hostId, "waking", now);
    void this.drivers[method]
      .wake(hostId, cfg!)
      .then(() => {
        if (this.pending.get(hostId) === p) p.row = store.power.update(id, { status: "sent", atMs: clock.now() });
        log.info({ host: hostId, method }, "wake sent; waiting for a healthy report");
      })
      .catch((e: Error) => {
        this.failWake(p, { code: e instanceof WakeError ? `wake.${e.code}` : "wake.error", message: e.message });
      });
    return row;
  }

  wake(host: string, by: string, reason: string): Promise<{ ok: boolean; message: string }> {
    try {
      this.requestWake(host, by, reason, true);
    } catch (e) {
      return Promise.resolve({ ok: false, message: (e as Error).message });
    }
    return this.pendingFor(host)?.promise ?? Promise.resolve({ ok: true, message: "done" });
  }

  private track(row: PowerRow, deadlineMs: number, replaceOnFailure: boolean): Pending {
    let resolve!: Pending["resolve"];
    const promise = new Promise<{ ok: boolean; message: string }>((r) => (resolve = r));
    const p: Pending = { row, deadlineMs, resolve, promise, replaceOnFailure };
    this.pending.set(row.host, p);
    this.d.journal?.opened(row);
    return p;
  }

  pendingFor(host: string): Pending | undefined {
    return this.pending.get(host);
  }

  private end(p: Pending, status: "succeeded" | "failed" | "timed-out", error: ErrorInfo | null): void {
    if (this.pending.get(p.row.host) !== p) return;
    this.pending.delete(p.row.host);
    p.row = this.d.store.power.update(p.row.id, { status, error, atMs: this.d.clock.now() });
    this.d.journal?.ended(p.row);
    this.wakeLatencies.ended(p.row);
    this.d.metrics.powerActions.inc({ action: p.row.action, outcome: status });
    this.d.log.info({ host: p.row.host, action: p.row.action, status, error }, `power ${p.row.action} ${status}`);
    p.resolve({ ok: status === "succeeded", message: error?.message ?? status });
  }

  private failWake(p: Pending, error: ErrorInfo, status: "failed" | "timed-out" = "failed"): void {
    const { state, clock, log } = this.d;
    const h = state.hosts.get(p.row.host);
    if (h) {
      h.wakeFailed = true;
      state.setMode(h.id, "standby", clock.now());
      const failures = (this.backoff.get(h.id)?.failures ?? 0) + 1;
      const waitMs = Math.min(WAKE_RETRY_BACKOFF.maxMs, WAKE_RETRY_BACKOFF.firstMs * 2 ** (failures - 1));
      this.backoff.set(h.id, { failures, untilMs: clock.now() + waitMs });
      log.warn({ host: h.id, failures, retryInMs: waitMs }, "wake failed: host marked, retried only after the back-off");
    }
    this.end(p, status, error);
    this.d.notify?.({ event: "wake-failed", id: p.row.id, host: p.row.host, summary: `wake of ${p.row.host} ${status}: ${error.message}` });
    if (!p.replaceOnFailure) return;
    const other = this.wakeCandidate();
    if (other) {
      log.warn({ failed: p.row.host, instead: other }, "wake failed; waking another host");
      try {
        this.requestWake(other, p.row.requestedBy, `instead of ${p.row.host} (${error.code})`, true);
      } catch (e) {
        log.warn({ host: other, err: (e as Error).message }, "replacement wake refused");
      }
    }
  }

  /**
   * A standby host that can be woken and has not just failed to wake: the one expected to be healthy
   * soonest (measured latency; a host whose wakes keep failing comes last).
   */
  wakeCandidate(): string | undefined {
    const now = this.d.clock.now();
    let best: { id: string; ms: number } | undefined;
    for (const h of this.d.state.hosts.values()) {
      const cfg = this.cfg(h.id);
      if (this.d.state.stateOf(h, now) !== "standby" || h.wakeFailed || !cfg || cfg.wake === "none" || this.pending.has(h.id)) continue;
      const ms = this.wakeLatencies.expectedMs(h.id);
      if (!best || ms < best.ms) best = { id: h.id, ms };
    }
    return best?.id;
  }

  /** `fn` is told each time a waking or standby host reports healthy: new capacity to plan with. */
  onBackInService(fn: (hostId: string) => void): void {
    this.backInService.push(fn);
  }

  /**
   * Every valid report: a waking host that reports with libvirt up is awake. It is back in service
   * unless an open maintenance holds it (powered off in maintenance, then on): then it is in that
   * maintenance again and takes no VM until undrained.
   */
  private onReport(h: HostEntry, _wasReachable: boolean): void {
    const now = this.d.clock.now();
    this.backoff.delete(h.id);
    const waking = h.mode === "waking";
    if ((!waking && h.mode !== "standby") || (waking && !h.libvirtOk)) return;
    const held = maintenanceMode(this.d.store.maintenance.active(h.id));
    this.d.state.setMode(h.id, held ?? "normal", now);
    const p = this.pending.get(h.id);
    if (waking && p?.row.action === "wake") this.end(p, "succeeded", null);
    // From standby: powered on by someone else.
    if (!waking) this.wakeLatencies.cameOn(h.id, now);
    if (held) {
      this.d.log.info({ host: h.id, mode: held }, "host on again, held by its open maintenance (drover undrain returns it)");
      return;
    }
    for (const fn of this.backInService) fn(h.id);
  }

  /** Timeouts; a powering-off host whose reports stopped is in standby. */
  async tick(): Promise<void> {
    const { state, clock } = this.d;
    const now = clock.now();
    // Back-off over: the host may be woken again (the planner and wakeCandidate read wakeFailed).
    for (const [host, b] of this.backoff) {
      const h = state.hosts.get(host);
      if (h && now >= b.untilMs) h.wakeFailed = false;
    }
    for (const p of [...this.pending.values()]) {
      const h = state.hosts.get(p.row.host);
      if (!h) continue;
      if (p.row.action === "power-off") {
        if (!state.isReachable(h, now)) {
          state.setMode(h.id, "standby", now);
          this.end(p, "succeeded", null);
        } else if (now > p.deadlineMs) {
          state.setMode(h.id, "normal", now);
          this.end(p, "timed-out", {
            code: "power-off.timeout",
            message: `${h.id} still reports ${Math.round((now - p.row.createdMs) / 1000)} s after the power-off`,
          });
        }
      } else if (now > p.deadlineMs) {
        this.failWake(
          p,
          { code: "wake.timeout", message: `${h.id} did not report healthy within ${this.cfg(h.id)?.wakeTimeoutMs ?? 0} ms` },
          "timed-out",
        );
      }
    }
  }

  /**
   * After a restart or on taking charge: power actions still open (this store's, and those a previous
   * leader journaled) are followed again; one already followed keeps its deadline.
   */
  resume(): void {
    const { store, clock, state } = this.d;
    const now = clock.now();
    for (const row of store.power.open()) {
      const cfg = this.cfg(row.host);
      if (!state.hosts.has(row.host) || this.pending.get(row.host)?.row.id === row.id) continue;
      const timeout = row.action === "wake" ? (cfg?.wakeTimeoutMs ?? 300_000) : (cfg?.powerOffTimeoutMs ?? 120_000);
      this.track(row, Math.max(now, row.createdMs + timeout), row.action === "wake" && !byOperator(row.requestedBy));
      state.setMode(row.host, row.action === "wake" ? "waking" : "powering-off", now);
    }
  }

  stop(): void {
    for (const p of this.pending.values()) p.resolve({ ok: false, message: "scheduler stopping" });
  }
}

/** Wake-on-LAN sent by a healthy peer's agent (the `wake-peer` command). */
export class PeerWolDriver implements WakeDriver {
  readonly method = "peer-wol";
  constructor(
    private readonly agents: AgentClient,
    private readonly state: ClusterState,
    private readonly clock: Clock,
  ) {}
  async wake(host: string, cfg: PowerConfig): Promise<void> {
    if (!cfg.mac || !cfg.address) throw new WakeError("config", `host ${host}: peer-wol needs mac and address`);
    const now = this.clock.now();
    const peers = [...this.state.hosts.values()].filter((h) => h.id !== host && this.state.stateOf(h, now) === "healthy");
    if (peers.length === 0) throw new WakeError("no-peer", `no healthy peer agent to send the magic packet to ${host}`);
    let last: Error | undefined;
    for (const peer of peers.slice(0, 3)) {
      try {
        const reply = await this.agents.send(peer.id, {
          kind: "wake-peer",
          id: `wake-${host}-${now.toString(36)}-${peer.id}`,
          target: host,
          mac: cfg.mac,
          address: cfg.address,
          port: cfg.port,
        });
        if (reply.status !== "refused" && reply.status !== "failed") return;
        last = new Error(reply.error?.message ?? `peer ${peer.id} ${reply.status}`);
      } catch (e) {
        last = e as Error;
      }
    }
    throw new WakeError("peer", `no peer could send the magic packet to ${host}: ${last?.message ?? "unknown"}`, { cause: last });
  }
}
