// A fleet of simulated host agents for the soak bench: no libvirt, the real protocol. Each host
// publishes a full-size report every interval (its guests' CPU follows PlanetLab traces, so load
// moves and the balancer and consolidator have work), answers commands as the agent does
// (idempotent by command id) and carries moves out with durations that grow with guest memory.
// The fleet is the ground truth: it counts every command that breaks one of Drover's promises.
import { Bus } from "@drover/bus";
import { Command, CommandReply, HostReport, MigrationProgress, MigrationResult, silentLogger, subjects } from "@drover/protocol";
import { sampleHostReport, testUuid } from "@drover/protocol/testing";
import { drawWorkload, loadPlanetLabDay, mulberry32, type Workload } from "@drover/sim";

/** What the fleet's hosts, guests and reports are made of (the plan bench needs no more). */
export interface FleetShape {
  cluster: string;
  hosts: number;
  vmsPerHost: number;
  reportIntervalMs: number;
  /** Real time per trace sample (PlanetLab samples are 5 min apart: 30 s replays a day 10x fast). */
  sampleMs: number;
  seed: number;
}

export interface FleetOptions extends FleetShape {
  url: string;
  /** Migration bandwidth: a guest's memory over this, plus setup, is a move's duration. */
  bandwidthMiBs: number;
  bootMs: number;
}

/** Promises a command can break, counted by the fleet (the soak's invariants: all must stay 0). */
export interface Violations {
  "migrate-absent-vm": number;
  "migrate-busy-vm": number;
  "migrate-to-down-host": number;
  "migrate-to-self": number;
  "memory-overcommit": number;
  "move-sent-twice": number;
  "power-off-busy-host": number;
  "vm-count-changed": number;
}

interface SimVm {
  uuid: string;
  name: string;
  vcpus: number;
  memoryMiB: number;
  trace: number;
  migrating: boolean;
}

export interface SimHost {
  id: string;
  index: number;
  up: boolean;
  vms: Map<string, SimVm>;
  seq: number;
  replies: Map<string, CommandReply>;
  sub: { unsubscribe(): void } | null;
  timer: NodeJS.Timeout | null;
}

const CPUS = 32;
const MEMORY_MIB = 256 * 1024;
const MAC = (i: number) =>
  `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
/** Loopback only: the fleet sends nothing there; the address is what the scheduler's config names. */
export const fleetHost = (i: number) => ({
  id: `sim${String(i).padStart(5, "0")}`,
  mac: MAC(i),
  address: `127.0.${200 + (i >> 8)}.${i & 255}`,
});

/**
 * The fleet's hosts and guests and the reports they make, without a bus: the soak's fleet runs on
 * it, and the plan bench (plan-scale.ts) builds the scheduler's picture from the same reports.
 */
export class FleetModel {
  readonly hosts: SimHost[] = [];
  readonly totalVms: number;
  private readonly template: ReturnType<typeof HostReport.parse>;

  private constructor(
    private readonly o: FleetShape,
    private readonly load: Workload,
    /** Trace sample 0 is at this time. */
    private readonly startMs: number,
  ) {
    // One validated report is the shape every host's report copies; only numbers and guests change.
    this.template = HostReport.parse({ ...sampleHostReport(o.vmsPerHost), cluster: o.cluster });
    const rnd = mulberry32(o.seed);
    let total = 0;
    for (let i = 0; i < o.hosts; i++) {
      const h: SimHost = { id: fleetHost(i).id, index: i, up: true, vms: new Map(), seq: 0, replies: new Map(), sub: null, timer: null };
      for (let k = 0; k < o.vmsPerHost; k++) {
        const n = i * o.vmsPerHost + k;
        const vm = {
          uuid: testUuid(n + 1),
          name: `vm-${n}`,
          vcpus: 1 + Math.floor(rnd() * 4),
          memoryMiB: 1024 * (1 + Math.floor(rnd() * 12)),
        };
        h.vms.set(vm.uuid, { ...vm, trace: n % load.names.length, migrating: false });
      }
      total += h.vms.size;
      this.hosts.push(h);
    }
    this.totalVms = total;
  }

  static create(o: FleetShape, startMs: number): FleetModel {
    const pool = [loadPlanetLabDay("20110303")];
    return new FleetModel(o, drawWorkload(pool, Math.min(o.hosts * o.vmsPerHost, 20_000), o.seed), startMs);
  }

  private cpuOf(vm: SimVm, nowMs: number): number {
    const k = Math.floor((nowMs - this.startMs) / this.o.sampleMs) % (this.load.stride - 1);
    return this.load.data[vm.trace * this.load.stride + k]! * vm.vcpus;
  }

  /** The host's full-size report at `nowMs` (next seq), as the agent would publish it. */
  report(h: SimHost, nowMs: number): HostReport {
    const t = this.template;
    const vmT = t.vms[0]!;
    let cpu = 0;
    let mem = 0;
    const vms = [...h.vms.values()].map((vm) => {
      const used = this.cpuOf(vm, nowMs);
      cpu += used;
      mem += vm.memoryMiB;
      return {
        ...vmT,
        uuid: vm.uuid,
        name: vm.name,
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        cpuUsedVcpus: used,
        memoryUsedMiB: Math.round(vm.memoryMiB * 0.7),
        disks: [{ target: "vda", path: `/srv/shared/${vm.name}.qcow2`, cacheMode: "none" as const, shared: true, readOnly: false }],
      };
    });
    const { mac, address } = fleetHost(h.index);
    return {
      ...t,
      host: h.id,
      seq: ++h.seq,
      timeMs: nowMs,
      intervalMs: this.o.reportIntervalMs,
      capacity: { cpus: CPUS, mhz: 2600, memoryMiB: MEMORY_MIB, cpuModel: t.capacity.cpuModel },
      usage: { ...t.usage, cpuFraction: Math.min(1, cpu / CPUS), memoryUsedMiB: mem, memoryAvailableMiB: Math.max(0, MEMORY_MIB - mem) },
      migrationUri: `qemu+tls://${address}/system`,
      power: { canPowerOff: true, wake: [{ method: "wol" as const, mac, address, port: 9 }] },
      vms,
    };
  }
}

export class Fleet {
  readonly violations: Violations = {
    "migrate-absent-vm": 0,
    "migrate-busy-vm": 0,
    "migrate-to-down-host": 0,
    "migrate-to-self": 0,
    "memory-overcommit": 0,
    "move-sent-twice": 0,
    "power-off-busy-host": 0,
    "vm-count-changed": 0,
  };
  readonly counts = { reports: 0, commands: 0, moves: 0, movesSucceeded: 0, powerOffs: 0, wakes: 0 };
  private readonly hosts: readonly SimHost[];
  private readonly byId = new Map<string, SimHost>();
  private readonly byMac = new Map<string, SimHost>();
  private readonly migrations = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly enc = new TextEncoder();

  private constructor(
    private readonly bus: Bus,
    private readonly o: FleetOptions,
    private readonly model: FleetModel,
  ) {
    this.hosts = model.hosts;
    for (const h of this.hosts) {
      this.byId.set(h.id, h);
      this.byMac.set(fleetHost(h.index).mac, h);
    }
  }

  static async start(o: FleetOptions): Promise<Fleet> {
    const model = FleetModel.create(o, Date.now());
    const bus = await Bus.connect({ servers: [o.url], name: "soak fleet", logger: silentLogger });
    const f = new Fleet(bus, o, model);
    for (const h of f.hosts) f.powerOn(h, (h.index / o.hosts) * o.reportIntervalMs);
    return f;
  }

  /** Hosts up, guests in all (must equal the start: no VM lost or duplicated). */
  census(): { hostsUp: number; vms: number } {
    let vms = 0;
    for (const h of this.hosts) vms += h.vms.size;
    return { hostsUp: this.hosts.filter((h) => h.up).length, vms };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const h of this.hosts) this.powerDown(h);
    if (this.census().vms !== this.model.totalVms) this.violations["vm-count-changed"]++;
    await this.bus.close();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private powerOn(h: SimHost, firstReportInMs: number): void {
    h.up = true;
    h.sub = this.bus.serve(subjects.hostCommand(this.o.cluster, h.id), Command, CommandReply, (c) => this.handle(h, c));
    const tick = () => {
      this.publishReport(h);
      h.timer = setTimeout(tick, this.o.reportIntervalMs);
    };
    h.timer = setTimeout(tick, firstReportInMs);
  }

  /** A powered-off host neither reports nor answers (its requests find no responder). */
  private powerDown(h: SimHost): void {
    h.up = false;
    h.sub?.unsubscribe();
    h.sub = null;
    if (h.timer) clearTimeout(h.timer);
    h.timer = null;
  }

  private publishReport(h: SimHost): void {
    const r = this.model.report(h, Date.now());
    this.bus.nc.publish(subjects.hostReport(this.o.cluster, h.id), this.enc.encode(JSON.stringify(r)));
    this.counts.reports++;
  }

  private reply(h: SimHost, c: Command, status: CommandReply["status"], extra: Partial<CommandReply> = {}): CommandReply {
    return { v: 1, id: c.id, host: h.id, kind: c.kind, status, duplicate: false, error: null, timeMs: Date.now(), ...extra };
  }

  private refuse(h: SimHost, c: Command, code: string, message: string): CommandReply {
    return this.reply(h, c, "refused", { error: { code, message } });
  }

  private handle(h: SimHost, c: Command): CommandReply {
    this.counts.commands++;
    if (c.kind === "status") {
      return h.replies.get(c.commandId) ?? { ...this.refuse(h, c, "unknown-command", "never seen"), id: c.commandId };
    }
    const seen = h.replies.get(c.id);
    if (seen) return { ...seen, duplicate: true };
    const r = this.run(h, c);
    h.replies.set(c.id, r);
    return r;
  }

  private run(h: SimHost, c: Exclude<Command, { kind: "status" }>): CommandReply {
    const v = this.violations;
    switch (c.kind) {
      case "preflight":
        return this.reply(h, c, "succeeded", { checks: [{ check: "vm-present", ok: true, reason: "defined here" }] });
      case "migrate": {
        const vm = h.vms.get(c.vm);
        const dest = this.byId.get(c.destination.host);
        const refuse = (k: keyof Violations, msg: string) => (v[k]++, this.refuse(h, c, k, msg));
        if (this.migrations.has(c.migrationId)) return refuse("move-sent-twice", `migration ${c.migrationId} was already sent`);
        if (!vm) return refuse("migrate-absent-vm", `${c.vm} is not on ${h.id}`);
        if (vm.migrating) return refuse("migrate-busy-vm", `${vm.name} is already migrating`);
        if (!dest || dest === h) return refuse("migrate-to-self", `destination ${c.destination.host} is not another host`);
        if (!dest.up) return refuse("migrate-to-down-host", `${dest.id} is powered off`);
        const destMem = [...dest.vms.values()].reduce((s, x) => s + x.memoryMiB, 0);
        if (destMem + vm.memoryMiB > MEMORY_MIB) return refuse("memory-overcommit", `${dest.id} has no room for ${vm.name}`);
        this.migrations.add(c.migrationId);
        vm.migrating = true;
        this.counts.moves++;
        const durationMs = 1000 + (vm.memoryMiB / this.o.bandwidthMiBs) * 1000;
        this.migrate(h, dest, vm, c, durationMs);
        return this.reply(h, c, "accepted", { migrationId: c.migrationId });
      }
      case "abort":
        return this.reply(h, c, "succeeded");
      case "power-off":
        if (h.vms.size > 0) {
          v["power-off-busy-host"]++;
          return this.refuse(h, c, "host-not-empty", `${h.id} still runs ${h.vms.size} guest(s)`);
        }
        this.counts.powerOffs++;
        this.later(1000, () => this.powerDown(h));
        return this.reply(h, c, "accepted");
      case "wake-peer": {
        const target = this.byMac.get(c.mac.toLowerCase());
        if (target && !target.up) {
          this.counts.wakes++;
          this.later(this.o.bootMs, () => target.up || this.powerOn(target, 0));
        }
        return this.reply(h, c, "succeeded");
      }
    }
  }

  /** Progress each second, then the guest is on the destination and the result is published. */
  private migrate(src: SimHost, dest: SimHost, vm: SimVm, c: Command & { kind: "migrate" }, durationMs: number): void {
    const started = Date.now();
    const base = {
      v: 1 as const,
      migrationId: c.migrationId,
      commandId: c.id,
      vm: vm.name,
      vmUuid: vm.uuid,
      source: src.id,
      destination: dest.id,
    };
    const total = vm.memoryMiB * 1024 * 1024;
    const progress = () => {
      const elapsedMs = Date.now() - started;
      if (elapsedMs >= durationMs) return this.finish(src, dest, vm, base, started);
      const done = Math.floor((total * elapsedMs) / durationMs);
      this.bus.publish(subjects.migrationProgress(this.o.cluster, src.id, c.migrationId), MigrationProgress, {
        ...base,
        timeMs: Date.now(),
        elapsedMs,
        phase: "copying",
        dataTotalBytes: total,
        dataProcessedBytes: done,
        dataRemainingBytes: total - done,
        memDirtyRateBps: 4 * 1024 * 1024,
        bandwidthBps: this.o.bandwidthMiBs * 1024 * 1024,
        iteration: 1,
        expectedDowntimeMs: 30,
        escalations: [],
      });
      this.later(Math.min(1000, durationMs - elapsedMs), progress);
    };
    this.later(0, progress);
  }

  private finish(src: SimHost, dest: SimHost, vm: SimVm, base: object, started: number): void {
    vm.migrating = false;
    const ok = src.vms.has(vm.uuid) && dest.up;
    if (ok) {
      src.vms.delete(vm.uuid);
      dest.vms.set(vm.uuid, vm);
      this.counts.movesSucceeded++;
    }
    const now = Date.now();
    this.bus.publish(subjects.migrationResult(this.o.cluster, src.id, (base as { migrationId: string }).migrationId), MigrationResult, {
      ...(base as Omit<MigrationResult, "outcome">),
      outcome: ok ? "succeeded" : "failed",
      completedBy: ok ? "live" : null,
      startedAtMs: started,
      endedAtMs: now,
      durationMs: now - started,
      downtimeMs: ok ? 30 : null,
      bytesMoved: vm.memoryMiB * 1024 * 1024,
      escalations: [],
      vmRunningOn: ok ? dest.id : src.id,
      error: ok ? null : { code: "destination-gone", message: `${dest.id} went away during the move` },
    });
  }
}
