// Drover's own policies in the simulator: each round the simulator state becomes the same
// ClusterSnapshot the scheduler builds from host reports, @drover/policy plans on it exactly as
// the scheduler calls it, and the plan's steps are applied: migrate steps become migrations
// (waiting for the steps they depend on), wake and power-off steps change host power state.
import { planProfile, SeasonalForecaster } from "@drover/policy";
import type { ClusterConfigInput, ClusterSnapshot, DemandForecast, Host, Plan, Profile, Vm } from "@drover/policy";
import { PabfdPolicy, firstFitPlace } from "./baselines.js";
import type { MigrationOrder, RoundPlan, SimPolicy } from "./baselines.js";
import { historyLength } from "./engine.js";
import type { HostType } from "./power.js";
import type { Datacenter } from "./engine.js";
import { SimError, SimErrorCode } from "./errors.js";

export interface DroverPolicyOptions {
  /** Name in results (default "drover"). */
  readonly name?: string;
  /** The profile the scheduler would run (default: the benchmark profile below). */
  readonly profile?: Profile;
  /** Cluster configuration, merged over what the simulator derives (capacity, bandwidth, limits). */
  readonly config?: ClusterConfigInput;
  readonly seed?: number;
  /**
   * Describe core speed as CPU models: a host offers every model up to its core MHz, a VM needs
   * the model of its vCPU MHz, so a VM never lands on cores slower than its vCPU (Q12 is where
   * CloudSim caps it). On by default: the policy has no per-core speed check of its own, and
   * an operator would state this constraint the same way (cpuModels / cpuModel).
   */
  readonly coreSpeedModels?: boolean;
  /** Give the policy each host's idle and full-load watts (from its SPECpower table). On by default. */
  readonly powerData?: boolean;
  /**
   * Learn the cluster's demand as the scheduler does (the seasonal forecaster, daily and weekly
   * periods of the trace's interval) and give plans its forecast once it has seen a day. Off by
   * default: the PlanetLab reference results are of the recent window alone.
   */
  readonly forecaster?: boolean;
  /**
   * For analysis only: append each VM's true demand of the next interval to the history the policy
   * sees, so a forecast of the last samples knows the future exactly (with statistic "max" over 2
   * samples, plans fit both this interval and the next). It bounds what any forecast could give
   * this policy; nothing in the scheduler can know it. Off by default.
   */
  readonly foresight?: boolean;
  /**
   * How the cluster is found at the start: "first-fit" (default: VMs on the first hosts with room,
   * as in a cluster nobody packed; with `coreSpeedModels`, only on hosts with their vCPU's model, as
   * libvirt starts a guest only where its CPU model is) or "pabfd", as the CloudSim baselines place
   * it (LR-MMT-1.2's creation placement), to compare policies from one start. It decides clean+ram,
   * where memory fixes the host count and the day's energy follows which hosts hold the VMs.
   */
  readonly start?: "first-fit" | "pabfd";
}

/** How far ahead the forecast reaches, as the scheduler's default `history.forecastHorizonMs`. */
const FORECAST_HORIZON_S = 7200;

function powerData(t: HostType | undefined): { idleW: number; maxW: number } | Record<string, never> {
  const table = t?.power.table;
  if (table === undefined || table.length === 0) return {};
  return { idleW: table[0] as number, maxW: table[table.length - 1] as number };
}

/**
 * The profile the PlanetLab benchmark runs: consolidation only (the reference workload has no
 * balancing objective). Band, pack target and forecast were chosen on 20110303 in clean mode
 * (the trade-off table is in README.md) and confirmed unchanged on the other days.
 */
export const benchmarkProfile: Profile = {
  name: "drover",
  policies: [{ policy: "consolidate", args: { band: { low: 0.7, high: 0.95, target: 0.9 } } }],
};

/**
 * Forecast: per host, the max of the last three 5-minute samples of its VMs' summed demand (VMs
 * rarely peak together, so this reserves less than summing per-VM maxima), no trend.
 */
export const benchmarkConfig: ClusterConfigInput = {
  forecast: { statistic: "max", windowSamples: 3, trend: false, safetyMargin: 0, aggregate: "host" },
};

export class DroverPolicy implements SimPolicy {
  readonly name: string;
  /** As the scheduler: a host it woke reporting healthy brings the next plan forward (modes.ts). */
  readonly replansOnWake = true;
  private readonly profile: Profile;
  private readonly config: ClusterConfigInput;
  private readonly seed: number;
  private readonly coreSpeedModels: boolean;
  private readonly powerData: boolean;
  private readonly useForecaster: boolean;
  private readonly foresight: boolean;
  private readonly start: "first-fit" | "pabfd";
  private forecaster: SeasonalForecaster | null = null;
  /** The sample (index of its interval) last fed to the forecaster, and the time of the round that fed it (s). */
  private observed = { sample: -1, atS: 0 };
  /** When each host came on by this policy's wake (s; NaN: on since before the run, or never woken). */
  private onSinceS = new Float64Array(0);
  private hostIds: string[] = [];
  private vmIds: string[] = [];
  private hostIndex = new Map<string, number>();
  private vmIndex = new Map<string, number>();
  /** The last plan (for inspection by tests and the CLI). */
  lastPlan: Plan | null = null;
  /** Wall time per round (ms) of building the snapshot and of planProfile alone. */
  readonly snapshotMs: number[] = [];
  readonly planMs: number[] = [];

  constructor(opts: DroverPolicyOptions = {}) {
    this.name = opts.name ?? "drover";
    this.profile = opts.profile ?? benchmarkProfile;
    this.config = opts.config ?? benchmarkConfig;
    this.seed = opts.seed ?? 1;
    this.coreSpeedModels = opts.coreSpeedModels ?? true;
    this.powerData = opts.powerData ?? true;
    this.useForecaster = opts.forecaster ?? false;
    this.foresight = opts.foresight ?? false;
    this.start = opts.start ?? "first-fit";
  }

  /**
   * Feeds the round's total demand to the forecaster (once per sample: a plan made again within the
   * round sees the same one) and returns its forecast once it knows a day.
   */
  private demandForecast(dc: Datacenter, t: number, total: number): DemandForecast | undefined {
    if (!this.useForecaster) return undefined;
    const step = dc.spec.workload.intervalSeconds;
    const day = Math.round(86_400 / step);
    this.forecaster ??= new SeasonalForecaster({ periods: [day, day * 7], alpha: 0.02, beta: 0.001, gamma: 0.05, omega: 0.5 });
    const sample = Math.floor(t / step);
    if (sample !== this.observed.sample) {
      this.forecaster.update(total);
      this.observed = { sample, atS: t };
    }
    if (!this.forecaster.seasonal) return undefined;
    const cpuMhz = this.forecaster.forecast(Math.ceil(FORECAST_HORIZON_S / step));
    return { fromMs: this.observed.atS * 1000, stepMs: step * 1000, cpuMhz };
  }

  /** The cluster as found (`start`); hosts holding a VM are powered. */
  place(dc: Datacenter): void {
    if (this.start === "pabfd") new PabfdPolicy({ detector: { kind: "lr", parameter: 1.2 } }).place(dc);
    else firstFitPlace(dc, { wholeCore: this.coreSpeedModels });
    this.hostIds = Array.from({ length: dc.nHosts }, (_, h) => `host-${h}`);
    this.vmIds = dc.spec.workload.names.map((n, v) => `vm-${v}-${n}`);
    this.hostIndex = new Map(this.hostIds.map((id, h) => [id, h]));
    this.vmIndex = new Map(this.vmIds.map((id, v) => [id, v]));
    for (let h = 0; h < dc.nHosts; h++) if ((dc.hostVms[h] as number[]).length > 0) dc.hostPowered[h] = 1;
    this.onSinceS = new Float64Array(dc.nHosts).fill(Number.NaN);
  }

  /** The snapshot a scheduler would hold at time t (seconds). */
  snapshot(dc: Datacenter, t: number): ClusterSnapshot {
    const wakeMs = dc.spec.bootSeconds * 1000;
    const speeds = this.coreSpeedModels ? [...new Set(Array.from(dc.vmMips))].sort((a, b) => a - b) : [];
    const hosts: Host[] = [];
    for (let h = 0; h < dc.nHosts; h++) {
      const booting = (dc.hostBootUntil[h] as number) > t;
      const on = dc.hostOn[h] === 1 || (dc.hostVms[h] as number[]).length > 0;
      const since = this.onSinceS[h] as number;
      hosts.push({
        id: this.hostIds[h] as string,
        state: booting ? "waking" : on ? "healthy" : "standby",
        // As the scheduler's power log tells it (consolidation's minOnMs reads it).
        ...(on && !Number.isNaN(since) ? { onSinceMs: since * 1000 } : {}),
        cpuCores: dc.hostModel[h]?.pes ?? 1,
        cpuCapacityMhz: dc.hostTotalMips[h] as number,
        memoryMiB: dc.hostRamMb[h] as number,
        power: { canPowerOff: true, canWake: true, wakeLatencyMs: wakeMs, ...(this.powerData ? powerData(dc.hostModel[h]) : {}) },
        // CloudSim's migration link: half of 1 Gbit/s (config efficiency 1, no setup overhead).
        migrationBandwidthBytesPerSec: ((dc.hostBwKbps[h] as number) * 1000) / 8 / 2,
        ...(this.coreSpeedModels ? { cpuModels: speeds.filter((s) => s <= (dc.hostPeMips[h] as number)).map((s) => `vcpu-${s}`) } : {}),
      });
    }
    const vms: Vm[] = [];
    let demand = 0;
    const step = dc.spec.workload.intervalSeconds;
    const lastSampleS = (dc.spec.workload.stride - 1) * step;
    const inFlight: NonNullable<ClusterSnapshot["inFlight"]>[number][] = [];
    for (let v = 0; v < dc.nVms; v++) {
      const h = dc.vmHost[v] as number;
      if (h < 0) continue;
      const len = Math.max(1, dc.vmHistLen[v] as number);
      const base = v * historyLength;
      const mips = dc.vmMips[v] as number;
      const hist = new Array<number>(len);
      for (let i = 0; i < len; i++) hist[len - 1 - i] = (dc.vmHist[base + i] as number) * mips;
      if (this.foresight) hist.push(dc.utilisationAt(v, Math.min(t + step, lastSampleS)) * mips);
      demand += hist[len - 1] as number;
      const last = dc.vmLastMigration[v] as number;
      const prev = dc.vmPrevHost[v] as number;
      vms.push({
        id: this.vmIds[v] as string,
        hostId: this.hostIds[h] as string,
        vcpus: 1,
        memoryMiB: dc.vmRamMb[v] as number,
        cpuDemandMhzHistory: hist,
        ...(this.coreSpeedModels ? { cpuModel: `vcpu-${mips}` } : {}),
        ...(last >= 0 ? { lastMigrationMs: last * 1000 } : {}),
        ...(prev >= 0 ? { previousHostId: this.hostIds[prev] as string } : {}),
      });
      if (dc.vmInMigration[v]) {
        const dst = dc.hostMigIn.findIndex((l) => l.includes(v));
        if (dst >= 0)
          inFlight.push({
            id: `m-${v}`,
            vmId: this.vmIds[v] as string,
            sourceHostId: this.hostIds[h] as string,
            destinationHostId: this.hostIds[dst] as string,
            startedMs: t * 1000,
          });
      }
    }
    const user = this.config;
    const config: ClusterConfigInput = {
      ...user,
      sampleIntervalMs: dc.spec.workload.intervalSeconds * 1000,
      // Q2: after creation only CPU binds, unless the mode enforces RAM (clean+ram).
      capacity: { enforceMemory: dc.spec.enforceRam, ...user.capacity },
      migration: { bandwidthEfficiency: 1, setupOverheadMs: 0, ...user.migration },
      // A round's migrations (<= 28 s each) all finish within the 300 s round, so the dispatcher
      // would run them all before the next plan: the in-flight limits do not bind per round.
      limits: { perSource: 1000, perDestination: 1000, perCluster: 100_000, ...user.limits },
    };
    const demandForecast = this.demandForecast(dc, t, demand);
    return { hosts, vms, inFlight, config, ...(demandForecast ? { demandForecast } : {}) };
  }

  optimize(dc: Datacenter, t: number): RoundPlan {
    const t0 = performance.now();
    const snap = this.snapshot(dc, t);
    const t1 = performance.now();
    let plan: Plan;
    try {
      plan = planProfile(snap, this.profile, { nowMs: t * 1000, seed: this.seed });
      this.snapshotMs.push(t1 - t0);
      this.planMs.push(performance.now() - t1);
    } catch (cause) {
      throw new SimError(
        SimErrorCode.policyFailed,
        `${this.name}: policy failed at t=${t}: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    this.lastPlan = plan;
    const migrations: MigrationOrder[] = [];
    const stepToMigration = new Map<number, number>();
    const wake: number[] = [];
    const powerOff: { host: number; after: number[] }[] = [];
    const deps = (dependsOn: readonly number[]) => dependsOn.map((d) => stepToMigration.get(d)).filter((x): x is number => x !== undefined);
    for (const s of plan.steps) {
      if (s.kind === "migrate") {
        const vm = this.vmIndex.get(s.vmId);
        const host = this.hostIndex.get(s.destinationHostId);
        if (vm === undefined || host === undefined)
          throw new SimError(SimErrorCode.policyFailed, `${this.name}: plan names unknown VM or host in step ${s.index}`);
        stepToMigration.set(s.index, migrations.length);
        migrations.push({ vm, host, after: deps(s.dependsOn) });
      } else if (s.kind === "wake") {
        const h = this.hostIndex.get(s.hostId);
        if (h !== undefined) {
          wake.push(h);
          this.onSinceS[h] = t + dc.spec.bootSeconds;
        }
      } else {
        const h = this.hostIndex.get(s.hostId);
        if (h !== undefined) powerOff.push({ host: h, after: deps(s.dependsOn) });
      }
    }
    // As the dispatcher does: a power-off also waits for every departure from that host.
    for (const off of powerOff) {
      migrations.forEach((m, i) => {
        if (dc.vmHost[m.vm] === off.host && !off.after.includes(i)) off.after.push(i);
      });
    }
    return { migrations, wake, powerOff };
  }
}
