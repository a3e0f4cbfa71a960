// Drain HOST: the host takes no new VMs, its VMs are moved off by the drain policy through the
// dispatcher, and it ends in maintenance (optionally powered off). A VM that cannot leave stops the
// drain as "blocked" with each VM's reason. Undrain returns the host to service. A drain to another
// cluster (`drover drain HOST --to-cluster B`, evacuating a site) places the VMs on that cluster's
// hosts with the same policy and sends the moves at once: the operator asked for exactly them.
import type { ApiMaintenance, Logger } from "@drover/protocol";
import type { MaintenanceRow, Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import { NotFoundError, RefusedError } from "./errors.js";
import { newId } from "./ids.js";
import { maintenanceMode } from "./maintenance-mode.js";
import { acrossRequest } from "./move-across.js";
import type { PeerClusters } from "./peer-clusters.js";
import type { Planner, PlannerMoves } from "./planner.js";
import type { PowerManager } from "./power/power-manager.js";
import type { Modes } from "./modes.js";
import type { MovesView } from "./snapshot.js";
import type { Notify } from "./webhooks.js";

interface Detail {
  vmsAtStart: number;
  blockers: { vm: string; code: string; reason: string }[];
  message: string;
  planIds: string[];
  /** The cluster the VMs go to (one of `peerClusters`); absent: a host of this cluster. */
  toCluster?: string;
}

/**
 * A drain needs no word when a move ends: each tick looks at what is left on the host and what
 * still moves off it, so it does not listen to MigrationEvents.
 */
export interface MaintenanceDeps {
  store: Store;
  state: ClusterState;
  planner: Pick<Planner, "make" | "placeAcross">;
  /** Moves under way (a host with moves still leaving it is not empty yet); a drain to another cluster submits its own. */
  moves: Pick<MovesView, "inFlightForPolicy"> & Pick<PlannerMoves, "submit">;
  /** Other clusters a drain may send the VMs to (config `peerClusters`). */
  peers: PeerClusters;
  power: Pick<PowerManager, "requestPowerOff" | "requestWake">;
  /** The drain mode in force: the config file's, or the one set at run time (`drover mode drain`). */
  modes: Pick<Modes, "modes">;
  clock: Clock;
  log: Logger;
  /** Webhooks: a drain done or blocked. */
  notify?: Notify;
}

const REPLAN_MS = 10_000;

export class Maintenance {
  private readonly lastPlanMs = new Map<string, number>();

  constructor(private readonly d: MaintenanceDeps) {}

  private detail(row: MaintenanceRow): Detail {
    const b = (row.blockers ?? {}) as Partial<Detail>;
    return {
      vmsAtStart: b.vmsAtStart ?? 0,
      blockers: b.blockers ?? [],
      message: b.message ?? "",
      planIds: b.planIds ?? [],
      ...(b.toCluster ? { toCluster: b.toCluster } : {}),
    };
  }

  private save(row: MaintenanceRow, patch: Partial<Detail>, status?: MaintenanceRow["status"]): MaintenanceRow {
    const det = { ...this.detail(row), ...patch };
    const saved = this.d.store.maintenance.update(row.id, {
      blockers: det as never,
      ...(status ? { status } : {}),
      atMs: this.d.clock.now(),
    });
    if (status !== row.status && (status === "in-maintenance" || status === "blocked")) {
      const event = status === "in-maintenance" ? "drain-done" : "drain-blocked";
      this.d.notify?.({ event, id: row.id, host: row.host, summary: `drain of ${row.host}: ${det.message}` });
    }
    return saved;
  }

  drain(host: string, powerOff: boolean, by: string, toCluster?: string): MaintenanceRow {
    const { store, state, clock, modes, log } = this.d;
    const now = clock.now();
    const h = state.hosts.get(host);
    if (!h) throw new NotFoundError(`no host "${host}"`, "id");
    // Refused with the clusters it may go to (peer-clusters.ts), before anything changes.
    if (toCluster !== undefined) this.d.peers.state(toCluster, "toCluster");
    if (modes.modes.drain === "off")
      throw new RefusedError("mode-off", "drains are off (drain mode: off; `drover mode drain automatic` turns them on)");
    const open = store.maintenance.active(host);
    if (open) throw new RefusedError("already-in-maintenance", `${host} already has maintenance ${open.id} (${open.status})`, "id");
    const st = state.stateOf(h, now);
    // A host in standby holds no VM: its maintenance begins at once and keeps it off (nothing wakes it but an operator).
    const off = st === "standby";
    if (st !== "healthy" && !off)
      throw new RefusedError("host-not-healthy", `${host} is ${st}; only a healthy host, or one in standby, can be drained`, "id");
    const id = newId("mnt", now);
    let row = store.maintenance.request({ id, host, requestedBy: by, powerOff, atMs: now });
    row = this.save(row, { vmsAtStart: state.vmsOn(host).length, message: "draining", ...(toCluster ? { toCluster } : {}) });
    if (!off) state.setMode(host, "draining", now);
    log.info({ maintenance: id, host, powerOff, by, ...(toCluster ? { toCluster } : {}) }, "drain requested");
    this.step(row);
    return store.maintenance.get(id)!;
  }

  undrain(host: string, by: string): MaintenanceRow {
    const { store, state, clock, log, power } = this.d;
    const now = clock.now();
    const h = state.hosts.get(host);
    if (!h) throw new NotFoundError(`no host "${host}"`, "id");
    const open = store.maintenance.active(host);
    if (!open) throw new RefusedError("not-in-maintenance", `${host} has no open maintenance`, "id");
    const row = this.save(open, { message: `returned to service by ${by}` }, "returned");
    const st = state.stateOf(h, now);
    if (st === "standby") {
      try {
        power.requestWake(host, by, `undrain of ${open.id}`);
      } catch (e) {
        log.warn({ host, err: (e as Error).message }, "undrain: wake refused");
      }
    } else if (h.mode !== "waking" && h.mode !== "powering-off") {
      state.setMode(host, "normal", now);
    }
    log.info({ maintenance: open.id, host, by }, "undrained");
    return row;
  }

  get(id: string): MaintenanceRow {
    const row = this.d.store.maintenance.get(id);
    if (!row) throw new NotFoundError(`no maintenance "${id}"`, "id");
    return row;
  }

  /** One drain round: plan the remaining moves, or finish, or report what blocks. */
  private step(row: MaintenanceRow): void {
    const { state, clock, planner, modes, power, log } = this.d;
    const now = clock.now();
    const host = row.host;
    const h = state.hosts.get(host);
    if (!h) return;
    const left = state.vmsOn(host);
    const moving = this.d.moves.inFlightForPolicy().filter((m) => m.sourceHostId === host);
    // A host drained in standby stays off and reports nothing (it runs nothing); one that is on is
    // held in maintenance once its report shows it empty.
    const off = h.mode === "standby";
    if (left.length === 0 && moving.length === 0 && (off || state.freshVmCount(host, now) === 0)) {
      row = this.save(
        row,
        { blockers: [], message: off ? "powered off: host in maintenance" : "empty: host in maintenance" },
        "in-maintenance",
      );
      if (!off) state.setMode(host, "maintenance", now);
      log.info({ maintenance: row.id, host }, "drain finished: host in maintenance");
      if (row.powerOff && !off) {
        try {
          power.requestPowerOff(host, `maintenance:${row.id}`, "drain with powerOff");
        } catch (e) {
          this.save(row, { message: `in maintenance; power-off refused: ${(e as Error).message}` });
        }
      }
      return;
    }
    if (moving.length > 0) return;
    if (left.length === 0) {
      // Every VM is placed elsewhere but the host's fresh report still lists one (or none came yet):
      // nothing blocks, so it is still draining; the next report ends it.
      const message = `waiting for ${host} to report no VM`;
      if (this.detail(row).message !== message || row.status === "blocked")
        this.save(row, { blockers: [], message }, row.status === "blocked" ? "draining" : undefined);
      return;
    }
    const { toCluster } = this.detail(row);
    if (toCluster) return this.stepAcross(row, toCluster, now);
    const busyPlan = this.detail(row).planIds.some((p) => {
      const s = this.d.store.plans.get(p)?.status;
      return s === "applying" || s === "approved" || s === "proposed";
    });
    if (busyPlan) return;
    if (now - (this.lastPlanMs.get(row.id) ?? 0) < REPLAN_MS && row.status === "blocked") return;
    this.lastPlanMs.set(row.id, now);
    const mode = modes.modes.drain === "automatic" ? "automatic" : "recommend";
    let plan;
    try {
      plan = planner.make("drain", { host, requestedBy: `maintenance:${row.id}`, mode });
    } catch (e) {
      this.save(row, { message: `drain planning failed: ${(e as Error).message}` });
      return;
    }
    const moves = plan.steps.filter((s) => s.action === "migrate" && s.source === host);
    const planIds = [...this.detail(row).planIds, plan.id];
    const ex = plan.explanation as { notMoved?: { vm: string; host: string; code: string; reason: string }[] };
    const blockers = (ex.notMoved ?? []).filter((n) => n.host === host).map((n) => ({ vm: n.vm, code: n.code, reason: n.reason }));
    if (moves.length === 0) {
      // A host that stopped reporting is no destination (its VMs and capacity cannot be verified):
      // say so, since that is what the drain waits for; it replans when the host reports again.
      const silent = this.notReporting(host, now);
      const waitingFor = silent.length ? ` (not reporting, so no destination: ${silent.join(", ")})` : "";
      const list = (
        blockers.length
          ? blockers
          : left.map((v) => ({ vm: v.report.name, code: "placement.no-destination", reason: "the drain policy found no destination" }))
      ).map((b) => ({ ...b, reason: b.reason + waitingFor }));
      if (list.length === 0) {
        // Nothing blocks: the host has not yet reported itself empty. Still draining.
        this.save(
          row,
          { planIds, blockers: [], message: `waiting for ${host} to report no VM` },
          row.status === "blocked" ? "draining" : undefined,
        );
        return;
      }
      this.save(row, { planIds, blockers: list, message: `blocked: ${list.length} VM(s) cannot leave ${host}${waitingFor}` }, "blocked");
      log.warn({ maintenance: row.id, host, blockers: list }, "drain blocked");
      return;
    }
    this.save(row, { planIds, blockers, message: `moving ${moves.length} VM(s)` }, row.status === "blocked" ? "draining" : undefined);
  }

  /**
   * One round of a drain to another cluster: the drain policy places what is left on the peer's
   * hosts, and each move is submitted at once; what finds no place, or is refused, blocks it.
   */
  private stepAcross(row: MaintenanceRow, toCluster: string, now: number): void {
    const { state, planner, moves, log } = this.d;
    const host = row.host;
    if (now - (this.lastPlanMs.get(row.id) ?? 0) < REPLAN_MS && row.status === "blocked") return;
    this.lastPlanMs.set(row.id, now);
    const peer = this.d.peers.find(toCluster);
    if (!peer) {
      this.save(row, { message: `blocked: cluster ${toCluster} is no longer in peerClusters` }, "blocked");
      return;
    }
    const name = (uuid: string) => state.vm(uuid)?.report.name ?? uuid;
    let plan;
    try {
      plan = planner.placeAcross(peer, host, null);
    } catch (e) {
      this.save(row, { message: `drain planning failed: ${(e as Error).message}` });
      return;
    }
    const blockers = plan.notMoved.filter((n) => n.hostId === host).map((n) => ({ vm: name(n.vmId), code: n.code, reason: n.message }));
    let sent = 0;
    for (const s of plan.steps) {
      if (s.kind !== "migrate" || s.sourceHostId !== host) continue;
      try {
        moves.submit(acrossRequest(s, toCluster, `maintenance:${row.id}`, `drain of ${host} to cluster ${toCluster}`));
        sent++;
      } catch (e) {
        blockers.push({ vm: name(s.vmId), code: (e as { code?: string }).code ?? "refused", reason: (e as Error).message });
      }
    }
    if (sent > 0) {
      this.save(
        row,
        { blockers, message: `moving ${sent} VM(s) to cluster ${toCluster}` },
        row.status === "blocked" ? "draining" : undefined,
      );
      return;
    }
    const list = blockers.length
      ? blockers
      : state
          .vmsOn(host)
          .map((v) => ({ vm: v.report.name, code: "placement.no-destination", reason: `no host of cluster ${toCluster} can take it` }));
    this.save(row, { blockers: list, message: `blocked: ${list.length} VM(s) cannot leave ${host} for cluster ${toCluster}` }, "blocked");
    log.warn({ maintenance: row.id, host, toCluster, blockers: list }, "drain blocked");
  }

  /** Other hosts that stopped reporting while in service (their agents gone; they may still run VMs). */
  private notReporting(except: string, now: number): string[] {
    const out: string[] = [];
    for (const h of this.d.state.hosts.values()) if (h.id !== except && this.d.state.stateOf(h, now) === "unreachable") out.push(h.id);
    return out.sort();
  }

  async tick(): Promise<void> {
    for (const row of this.d.store.maintenance.allActive()) {
      if (row.status === "in-maintenance") continue;
      this.step(row);
    }
  }

  /** After a restart: hosts under maintenance keep their mode. */
  resume(): void {
    const now = this.d.clock.now();
    for (const row of this.d.store.maintenance.allActive()) {
      const h = this.d.state.hosts.get(row.host);
      if (!h || h.mode === "standby" || h.mode === "waking" || h.mode === "powering-off") continue;
      this.d.state.setMode(row.host, maintenanceMode(row) ?? "normal", now);
    }
  }

  toApi(row: MaintenanceRow): ApiMaintenance {
    const det = this.detail(row);
    const h = this.d.state.hosts.get(row.host);
    const migrations: string[] = [];
    for (const p of det.planIds) for (const s of this.d.store.plans.get(p)?.steps ?? []) if (s.migrationId) migrations.push(s.migrationId);
    const st =
      row.status === "returned" || row.status === "cancelled"
        ? "ended"
        : row.status === "in-maintenance" && h && this.d.state.stateOf(h, this.d.clock.now()) === "standby"
          ? "powered-off"
          : row.status;
    return {
      id: row.id,
      host: row.host,
      state: st,
      powerOff: row.powerOff,
      requestedBy: row.requestedBy,
      requestedAtMs: row.createdMs,
      updatedAtMs: row.updatedMs,
      endedAtMs: row.endedMs,
      vmsAtStart: det.vmsAtStart,
      vmsLeft: this.d.state.vmsOn(row.host).length,
      migrations,
      blockers: det.blockers,
      message: det.message,
      toCluster: det.toCluster ?? null,
    };
  }
}
