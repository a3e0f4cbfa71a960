// Schedules and modes: balancing runs continuously; consolidation only inside its window, and
// before the window ends the standby hosts are woken (power/restore.ts: each just in time for the
// forecast demand, or all at a fixed offset without a forecast) and the load is spread again. Each
// policy's mode decides what a plan does: off (nothing), recommend (stored, waits for approval),
// automatic (runs). Modes and the window start from the config file and change at run time
// (the API), each change recorded in the history with who made it.
import type { PlanStep } from "@drover/policy";
import { PolicyMode, RunTimeModeKinds, type Logger, type PlanKind } from "@drover/protocol";
import type { MigrationRow, PlanMode, Store } from "@drover/store";
import type { Clock } from "./clock.js";
import type { ClusterState } from "./cluster-state.js";
import { WindowConfig, type SchedulerConfig } from "./config.js";
import type { MigrationEvents } from "./migration-events.js";
import type { Planner } from "./planner.js";
import type { PowerManager } from "./power/power-manager.js";
import { CapacityRestore } from "./power/restore.js";
import { windowAt, type WindowState } from "./window.js";

/** How busy the dispatcher is: scheduled planning waits until no move is running or queued. */
export interface MovesLoad {
  readonly inFlightCount: number;
  readonly queuedCount: number;
}

export interface ModesDeps {
  planner: Pick<Planner, "compute" | "make">;
  moves: MovesLoad;
  power: Pick<PowerManager, "requestWake" | "wakeLatencies" | "planningSnapshot" | "onBackInService">;
  /** A failed move brings the next planning round forward. */
  events: MigrationEvents;
  state: ClusterState;
  store: Store;
  clock: Clock;
  config: SchedulerConfig;
  log: Logger;
}

export type RunTimeModeKind = (typeof RunTimeModeKinds)[number];

/**
 * A mode changed at run time is a config change under this key (not a key of the config file), so
 * the history shows who changed it and a restart finds it.
 */
export const modeKey = (kind: RunTimeModeKind): string => `modes.${kind}`;

/** Likewise a schedule (the consolidation window) set at run time. */
export const scheduleKey = (kind: "consolidate"): string => `schedules.${kind}`;

export class Modes {
  private lastRun: Record<"balance" | "consolidate", number> = { balance: 0, consolidate: 0 };
  /** Window (by opening time) whose restore began. */
  private restoredWindow: number | null = null;
  /** Wakes the hosts Drover powered off before the window ends. */
  private readonly restore: CapacityRestore;
  readonly modes: Record<PlanKind, PolicyMode>;
  readonly schedules: { consolidate: WindowConfig };

  constructor(private readonly d: ModesDeps) {
    this.modes = {
      balance: d.config.policies.balance.mode,
      consolidate: d.config.policies.consolidate.mode,
      drain: d.config.policies.drain.mode,
    };
    this.schedules = { consolidate: d.config.policies.consolidate.window };
    this.restore = new CapacityRestore(d);
    this.restoreRunTimeModes();
    d.events.onFinished((m) => this.onMigrationFinished(m));
    // A host back in service (often woken by a plan for load no host that was on could take) is
    // capacity the next round should use now, not a whole `everyMs` later.
    d.power.onBackInService(() => this.planSoon());
  }

  /**
   * Sets what `kind`'s scheduled plans do from the next tick on, recorded (with `by`) only when it
   * changes. It stays across restarts until the config file's policies change.
   */
  set(kind: RunTimeModeKind, mode: PolicyMode, by: string): Record<PlanKind, PolicyMode> {
    const old = this.modes[kind];
    if (old !== mode) {
      this.d.store.config.recordChange({ atMs: this.d.clock.now(), who: by, key: modeKey(kind), oldValue: old, newValue: mode });
      this.modes[kind] = mode;
      if (kind !== "drain") this.lastRun[kind] = 0;
      this.d.log.info({ kind, mode, was: old, by }, "mode changed");
    }
    return this.modes;
  }

  /**
   * Sets when consolidation runs from the next tick on, recorded (with `by`) only when it changes;
   * kept across restarts until the config file's policies change, like a mode.
   */
  setSchedule(kind: "consolidate", window: WindowConfig, by: string): { consolidate: WindowConfig } {
    const old = this.schedules[kind];
    if (JSON.stringify(old) !== JSON.stringify(window)) {
      this.d.store.config.recordChange({ atMs: this.d.clock.now(), who: by, key: scheduleKey(kind), oldValue: old, newValue: window });
      this.schedules[kind] = window;
      this.lastRun[kind] = 0;
      this.d.log.info({ kind, window, was: old, by }, "schedule changed");
    }
    return this.schedules;
  }

  /** A schedule a previous leader set (from the journal), under the same rule as `adopt`. */
  adoptSchedule(kind: "consolidate", window: WindowConfig, by: string, atMs: number): void {
    const file = this.d.store.config.list({ key: "policies", limit: 1 })[0];
    if (file && file.atMs > atMs) return;
    this.setSchedule(kind, window, by);
  }

  /**
   * A mode a previous leader set (from the journal): taken unless this scheduler's config file
   * changed its policies later, recorded under the name of who set it.
   */
  adopt(kind: RunTimeModeKind, mode: PolicyMode, by: string, atMs: number): void {
    const file = this.d.store.config.list({ key: "policies", limit: 1 })[0];
    if (file && file.atMs > atMs) return;
    this.set(kind, mode, by);
  }

  /** The newest of a run-time change and the config file's policies (recorded at start, before this) wins. */
  private restoreRunTimeModes(): void {
    const { store } = this.d;
    const fileSeq = store.config.list({ key: "policies", limit: 1 })[0]?.seq ?? 0;
    for (const kind of RunTimeModeKinds) {
      const last = store.config.list({ key: modeKey(kind), limit: 1 })[0];
      const mode = PolicyMode.safeParse(last?.newValue);
      if (last && last.seq > fileSeq && mode.success) this.modes[kind] = mode.data;
    }
    const last = store.config.list({ key: scheduleKey("consolidate"), limit: 1 })[0];
    const window = WindowConfig.safeParse(last?.newValue);
    if (last && last.seq > fileSeq && window.success) this.schedules.consolidate = window.data;
  }

  /** The window now; `restoring` once its restore began (timed by the forecast, or the fixed offset without one). */
  window(): WindowState {
    return this.withRestore(windowAt(this.schedules.consolidate, this.d.clock.now()));
  }

  private withRestore(w: WindowState): WindowState {
    return { ...w, restoring: this.restore.restoring(w) };
  }

  async tick(): Promise<void> {
    const now = this.d.clock.now();
    const open = windowAt(this.schedules.consolidate, now);
    const restoring = this.modes.consolidate !== "off" && open.active && this.restore.tick(open, this.schedules.consolidate);
    if (restoring && this.restoredWindow !== open.openedMs) {
      this.restoredWindow = open.openedMs;
      this.lastRun.balance = 0;
    }
    const w = this.withRestore(open);
    const idle = this.d.moves.inFlightCount === 0 && this.d.moves.queuedCount === 0;
    if (
      this.modes.consolidate !== "off" &&
      w.active &&
      !w.restoring &&
      idle &&
      now - this.lastRun.consolidate >= this.d.config.policies.consolidate.everyMs
    ) {
      this.lastRun.consolidate = now;
      this.run("consolidate", this.modes.consolidate);
      return;
    }
    const balanceMode: PolicyMode = w.active && w.restoring && this.modes.balance === "off" ? this.modes.consolidate : this.modes.balance;
    // Inside the window (before restoring), consolidation owns placement: balancing would undo it.
    const consolidating = this.modes.consolidate !== "off" && w.active && !w.restoring;
    if (balanceMode !== "off" && !consolidating && idle && now - this.lastRun.balance >= this.d.config.policies.balance.everyMs) {
      this.lastRun.balance = now;
      this.run("balance", balanceMode);
    }
  }

  /** Plans `kind`; stores the plan only if it proposes something and nothing of its kind is open. */
  private run(kind: "balance" | "consolidate", mode: PolicyMode): void {
    const { planner, store, log } = this.d;
    const open = store.plans.list({ status: "applying", limit: 100 }).concat(store.plans.list({ status: "approved", limit: 100 }));
    if (open.some((p) => p.kind === kind)) return;
    try {
      const p = planner.compute(kind);
      if (p.steps.length === 0) return;
      if (mode === "recommend" && this.sameAsProposed(kind, p.steps)) return;
      planner.make(kind, { requestedBy: `schedule:${kind}`, mode: mode as PlanMode, computed: p });
    } catch (e) {
      log.error({ kind, err: (e as Error).message }, "scheduled planning failed");
    }
  }

  /** The plan waiting for approval already proposes exactly these steps: do not store it again. */
  private sameAsProposed(kind: string, steps: readonly PlanStep[]): boolean {
    const sig = (xs: string[]) => xs.sort().join(";");
    const want = sig(steps.map((s) => (s.kind === "migrate" ? `m:${s.vmId}>${s.destinationHostId}` : `${s.kind}:${s.hostId}`)));
    const open = this.d.store.plans.list({ status: "proposed", limit: 100 }).find((p) => p.kind === kind);
    if (!open) return false;
    if (this.d.clock.now() - open.createdMs > this.d.config.planTtlMs) return false;
    return sig(open.steps.map((s) => (s.action === "migrate" ? `m:${s.vmUuid}>${s.destination}` : `${s.action}:${s.host}`))) === want;
  }

  /** A failed move makes the next round come sooner (re-plan around it). */
  private onMigrationFinished(m: MigrationRow): void {
    if (m.status === "failed" || m.status === "aborted" || m.status === "timed-out") this.planSoon();
  }

  /** The next tick plans balance and consolidation (each as its mode and window allow), not `everyMs` after the last. */
  private planSoon(): void {
    this.lastRun.balance = 0;
    this.lastRun.consolidate = 0;
  }
}
