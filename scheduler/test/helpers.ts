// Test fixtures: a real nats-server, real SQLite files in temp dirs, and a small in-test responder
// that speaks the agent protocol (the end-to-end tests in test/ use the real agent).
import { createSocket, type Socket } from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import {
  Command,
  CommandReply,
  HostEvent,
  HostReport,
  MigrationProgress,
  MigrationResult,
  silentLogger,
  subjects,
  type HostReportInput,
} from "@drover/protocol";
import { hostReport, migrationProgress, migrationResult, testUuid, vmReport } from "@drover/protocol/testing";
import { parseConfig, type SchedulerConfig, type SchedulerConfigInput } from "../src/config.js";

export const CLUSTER = "t1";

/** A UDP socket on 127.0.0.1 that keeps what it receives: a Wake-on-LAN target for the power tests. */
export async function udpListener(): Promise<{ sock: Socket; port: number; packets: Buffer[] }> {
  const sock = createSocket("udp4");
  const packets: Buffer[] = [];
  sock.on("message", (m) => packets.push(m));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { sock, port: sock.address().port, packets };
}

export async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "drover-sched-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

export function config(natsUrl: string, stateDir: string, over: Partial<SchedulerConfigInput> = {}): SchedulerConfig {
  return parseConfig({
    cluster: CLUSTER,
    nats: { servers: [natsUrl], requestTimeoutMs: 2000 },
    stateDir,
    http: { host: "127.0.0.1", port: 0 },
    reports: { intervalMs: 1000, unreachableAfter: 3, flushIntervalMs: 100 },
    policies: { balance: { mode: "off" }, consolidate: { mode: "off" }, drain: { mode: "automatic" } },
    migration: { preflight: true, commandTimeoutMs: 2000, timeoutMs: 60_000, resultGraceMs: 2000 },
    ...over,
  });
}

export interface VmSpec {
  uuid: string;
  name: string;
  cpu?: number;
  memoryMiB?: number;
  tags?: string[];
  state?: "running" | "paused";
  /** Its disks as reported (default: one qcow2 on the hosts' shared NFS mount). */
  disks?: NonNullable<Parameters<typeof vmReport>[1]>["disks"];
  dirtyRateMiBs?: number;
}

let seq = 0;
/** A report from `host` in this test cluster: an 8-CPU, 32 GiB host, 10% busy, its guests as given. */
export function report(host: string, vms: VmSpec[], timeMs: number, over: Partial<HostReportInput> = {}): HostReportInput {
  return hostReport({
    cluster: CLUSTER,
    host,
    seq: seq++,
    timeMs,
    intervalMs: 1000,
    capacity: { cpus: 8, mhz: 2000, memoryMiB: 32768, cpuModel: "qemu64" },
    usage: { cpuFraction: 0.1, memoryUsedMiB: 2048, memoryAvailableMiB: 30000, load1: 0.1, load5: 0.1, load15: 0.1, pressure: null },
    libvirt: { reachable: true, uri: "qemu:///system", version: "9.0.0", latencyMs: 1, lastError: null, sinceMs: 0 },
    migrationUri: `qemu+tcp://127.0.0.1/${host}`,
    storage: [{ path: "/var/lib/drover", fsType: "nfs", shared: true }],
    power: { canPowerOff: true, wake: [] },
    vms: vms.map((v) =>
      vmReport(0, {
        uuid: v.uuid,
        name: v.name,
        state: v.state ?? "running",
        vcpus: 1,
        memoryMiB: v.memoryMiB ?? 512,
        cpuUsedVcpus: v.cpu ?? 0.1,
        memoryUsedMiB: 256,
        dirtyRateMiBs: v.dirtyRateMiBs ?? 1,
        disks: v.disks ?? [{ target: "vda", path: `/var/lib/drover/${v.name}.qcow2`, cacheMode: "none", shared: true }],
        tags: v.tags ?? [],
      }),
    ),
    ...over,
  });
}

export { testUuid as uuid };

export interface AgentBehaviour {
  /** What to do with a migrate command: "succeed" (after `durationMs`), "fail", "hold" (never ends). */
  migrate?: "succeed" | "fail" | "hold";
  durationMs?: number;
  /** Duration and downtime the migration result claims (default 50 ms and 5 ms). */
  measured?: { durationMs: number; downtimeMs: number; bytesMoved?: number };
  /** An abort ends a held migration `aborted` (as the real agent does); otherwise the abort is answered and ignored. */
  abortEnds?: boolean;
  preflightOk?: boolean;
  /** A succeeded move's result names no host the VM runs on (the agent could not verify it). */
  unverified?: boolean;
}

/**
 * A fake cluster world: hosts with VMs, each host served by a responder that speaks the agent
 * protocol (idempotent by command id) and publishes reports when asked.
 */
export class FakeAgents {
  readonly received: Command[] = [];
  readonly vms = new Map<string, VmSpec & { host: string }>();
  private readonly table = new Map<string, CommandReply>();
  private subs: { unsubscribe(): void }[] = [];
  behaviour: AgentBehaviour = { migrate: "succeed", durationMs: 50, preflightOk: true };
  /** Migrations held ("hold"): finish them with release(). */
  readonly held = new Map<string, Command & { kind: "migrate" }>();
  /** What an agent would do a moment after it answers; cleared on close (a closed bus cannot publish). */
  private readonly pending = new Set<NodeJS.Timeout>();
  /** Hosts whose responders answer (a powered-off host does not). */
  readonly up = new Set<string>();

  private constructor(
    readonly bus: Bus,
    readonly hosts: string[],
  ) {}

  static async start(url: string, hosts: string[]): Promise<FakeAgents> {
    const bus = await Bus.connect({ servers: [url], name: "fake-agents", logger: silentLogger });
    const f = new FakeAgents(bus, hosts);
    for (const h of hosts) f.serve(h);
    return f;
  }

  serve(host: string): void {
    this.up.add(host);
    this.subs.push(
      this.bus.serve(subjects.hostCommand(CLUSTER, host), Command, CommandReply, (cmd) => {
        const r = this.handle(host, cmd);
        if (cmd.kind !== "status") this.commandEvent(host, cmd, r);
        return r;
      }),
    );
  }

  /** Powered on again (after a power-off): answers and reports again. */
  revive(host: string): void {
    this.up.add(host);
  }

  place(host: string, vm: VmSpec): void {
    this.vms.set(vm.uuid, { ...vm, host });
  }

  on(host: string): VmSpec[] {
    return [...this.vms.values()].filter((v) => v.host === host);
  }

  /** A host's storage mounts as its report gives them (default: the shared NFS mount every host has). */
  readonly storage = new Map<string, HostReportInput["storage"]>();

  publishReports(nowMs: number, hosts = [...this.up]): void {
    for (const h of hosts) {
      const storage = this.storage.get(h);
      this.bus.publish(subjects.hostReport(CLUSTER, h), HostReport, report(h, this.on(h), nowMs, storage ? { storage } : {}));
    }
  }

  /** A restart without its state: every command and held migration forgotten. */
  forgetAll(): void {
    this.table.clear();
    this.held.clear();
  }

  count(kind: string, id?: string): number {
    return this.received.filter((c) => c.kind === kind && (id === undefined || c.id === id)).length;
  }

  /** What the real agent publishes for every command it runs, whoever sent it. */
  private commandEvent(host: string, cmd: Exclude<Command, { kind: "status" }>, r: CommandReply): void {
    this.bus.publish(subjects.hostEvent(CLUSTER, host), HostEvent, {
      v: 1,
      host,
      timeMs: Date.now(),
      kind: "command",
      detail: `${cmd.kind} ${cmd.id}: ${r.status}`,
      command: {
        id: cmd.id,
        kind: cmd.kind,
        issuedBy: cmd.issuedBy,
        vm: "vm" in cmd ? cmd.vm : null,
        destination: "destination" in cmd ? cmd.destination : null,
        outcome: r.status,
        duplicate: r.duplicate,
        error: r.error,
      },
    });
  }

  private reply(host: string, cmd: Command, status: CommandReply["status"], extra: Partial<CommandReply> = {}): CommandReply {
    return { v: 1, id: cmd.id, host, kind: cmd.kind, status, duplicate: false, error: null, timeMs: Date.now(), ...extra };
  }

  private handle(host: string, cmd: Command): CommandReply {
    this.received.push(cmd);
    if (!this.up.has(host)) throw new Error("host down");
    if (cmd.kind === "status") {
      const seen = this.table.get(cmd.commandId);
      return seen ?? { ...this.reply(host, cmd, "refused"), id: cmd.commandId, error: { code: "unknown-command", message: "never seen" } };
    }
    const dup = this.table.get(cmd.id);
    if (dup) return { ...dup, duplicate: true };
    let r: CommandReply;
    switch (cmd.kind) {
      case "preflight": {
        const ok = this.behaviour.preflightOk !== false;
        r = this.reply(host, cmd, ok ? "succeeded" : "failed", {
          checks: [
            { check: "vm-present", ok: true, reason: "defined here" },
            { check: "shared-storage", ok, reason: ok ? "same mounts" : "disk /x is local on the destination" },
          ],
        });
        break;
      }
      case "migrate": {
        r = this.reply(host, cmd, "accepted", { migrationId: cmd.migrationId });
        const mode = this.behaviour.migrate ?? "succeed";
        if (mode === "hold") this.held.set(cmd.migrationId, cmd);
        else this.later(() => this.finish(host, cmd, mode === "succeed"), this.behaviour.durationMs ?? 50);
        break;
      }
      case "abort": {
        // With abortEnds, as the agent: a held migration ends `aborted`, the VM where it was; none running is refused.
        const held = this.behaviour.abortEnds ? this.held.get(cmd.migrationId) : undefined;
        r =
          held || !this.behaviour.abortEnds
            ? this.reply(host, cmd, "succeeded")
            : this.reply(host, cmd, "refused", {
                error: { code: "unknown-migration", message: `no migration ${cmd.migrationId} is running` },
              });
        if (held) this.later(() => this.finish(host, held, false, "aborted"), 1);
        break;
      }
      case "power-off":
        r = this.reply(host, cmd, "accepted");
        this.later(() => this.up.delete(host), 10);
        break;
      case "wake-peer":
        r = this.reply(host, cmd, "succeeded");
        break;
    }
    this.table.set(cmd.id, r);
    return r;
  }

  /** Ends a held (or any) migration as the agent would: moves the VM, publishes progress and result. */
  finish(host: string, cmd: Command & { kind: "migrate" }, ok: boolean, failure: "failed" | "aborted" = "failed"): void {
    const vm = this.vms.get(cmd.vm);
    const now = Date.now();
    this.held.delete(cmd.migrationId);
    const base = {
      migrationId: cmd.migrationId,
      commandId: cmd.id,
      vm: vm?.name ?? cmd.vm,
      vmUuid: cmd.vm,
      source: host,
      destination: cmd.destination.host,
    };
    this.bus.publish(
      subjects.migrationProgress(CLUSTER, host, cmd.migrationId),
      MigrationProgress,
      migrationProgress({
        ...base,
        timeMs: now,
        elapsedMs: 10,
        dataProcessedBytes: 50,
        dataRemainingBytes: 50,
        memDirtyRateBps: null,
        bandwidthBps: null,
        iteration: 1,
        expectedDowntimeMs: null,
      }),
    );
    if (ok && vm) vm.host = cmd.destination.host;
    const status = ok ? "succeeded" : "failed";
    const prev = this.table.get(cmd.id);
    if (prev) this.table.set(cmd.id, { ...prev, status });
    this.bus.publish(
      subjects.migrationResult(CLUSTER, host, cmd.migrationId),
      MigrationResult,
      migrationResult({
        ...base,
        outcome: ok ? "succeeded" : failure,
        completedBy: ok ? "live" : null,
        startedAtMs: now - 50,
        endedAtMs: now,
        durationMs: this.behaviour.measured?.durationMs ?? 50,
        downtimeMs: ok ? (this.behaviour.measured?.downtimeMs ?? 5) : null,
        // As a real move: about the guest's memory went over the link.
        bytesMoved: this.behaviour.measured?.bytesMoved ?? (vm?.memoryMiB ?? 512) * 1024 * 1024,
        vmRunningOn: this.behaviour.unverified ? null : ok ? cmd.destination.host : host,
        error: ok
          ? null
          : failure === "aborted"
            ? { code: "aborted", message: "aborted (abort command): operation aborted" }
            : { code: "migration-failed", message: "destination refused the incoming migration" },
      }),
    );
  }

  releaseAll(ok = true): void {
    for (const cmd of [...this.held.values()]) this.finish(this.vms.get(cmd.vm)?.host ?? "", cmd, ok);
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.pending.delete(t);
      fn();
    }, ms);
    this.pending.add(t);
  }

  async close(): Promise<void> {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    for (const s of this.subs) s.unsubscribe();
    await this.bus.close();
  }
}

export { NatsServer };
