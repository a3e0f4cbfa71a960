// Valid protocol messages for tests and benches: `import { hostReport } from "@drover/protocol/testing"`.
// Every builder returns a fresh object with plausible values; a test overrides only the fields it is
// about. Product code never imports this entry (eslint.config.js refuses it under */src).
import type { z } from "zod";
import type { CommandInput } from "../commands.js";
import type { HostReportInput } from "../host-report.js";
import type { MigrationProgress, MigrationResultInput } from "../migration.js";

export { memoryLogger, type LogEntry } from "./memory-logger.js";

export type VmReportInput = HostReportInput["vms"][number];
export type MigrationProgressInput = z.input<typeof MigrationProgress>;
export type MigrateCommandInput = Extract<CommandInput, { kind: "migrate" }>;

/** The fixed epoch the builders stamp messages with (2025-11-26T23:33:20Z). */
export const T0 = 1_764_200_000_000;

/** A valid v4 UUID numbered `n`, e.g. testUuid(10) = 00000000-0000-4000-8000-00000000000a. */
export function testUuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** Guest number `i`: 2 vCPUs, 2 GiB, half a vCPU busy, one shared disk. */
export function vmReport(i = 0, over: Partial<VmReportInput> = {}): VmReportInput {
  return {
    uuid: testUuid(i),
    name: `vm${i}`,
    state: "running",
    vcpus: 2,
    memoryMiB: 2048,
    cpuUsedVcpus: 0.5,
    memoryUsedMiB: 1024,
    vcpuWaitFraction: 0,
    dirtyRateMiBs: null,
    disks: [{ target: "vda", path: `/srv/shared/vm${i}.qcow2`, cacheMode: "none", shared: true }],
    bridges: ["br0"],
    tags: [],
    ...over,
  };
}

/** A healthy host "h1" of cluster "lab" with no guests (pass `vms`). */
export function hostReport(over: Partial<HostReportInput> = {}): HostReportInput {
  return {
    v: 1,
    cluster: "lab",
    host: "h1",
    seq: 1,
    timeMs: T0,
    intervalMs: 5000,
    agentVersion: "test",
    capacity: { cpus: 32, mhz: 2600, memoryMiB: 262_144, cpuModel: "qemu64" },
    usage: {
      cpuFraction: 0.2,
      memoryUsedMiB: 100_000,
      memoryAvailableMiB: 160_000,
      load1: 1,
      load5: 1,
      load15: 1,
      pressure: { cpuSome10: 1.5, memorySome10: 0, memoryFull10: 0, ioSome10: 0.2 },
    },
    libvirt: { reachable: true, uri: "qemu:///system", version: "9.0.0", latencyMs: 0.8, lastError: null, sinceMs: T0 - 100_000_000 },
    migrationUri: "qemu+tcp://127.0.1.1/system",
    storage: [{ path: "/srv/shared", fsType: "nfs4", shared: true }],
    bridges: ["br0"],
    power: { canPowerOff: true, wake: [{ method: "wol", mac: "02:00:00:00:01:01", address: "127.0.1.1" }] },
    vms: [],
    ...over,
  };
}

/** A realistic report of a big host with `vms` guests of varied sizes: what an agent publishes every few seconds. */
export function sampleHostReport(vms: number, host = "kvm01"): HostReportInput {
  return hostReport({
    host,
    capacity: { cpus: 64, mhz: 2600, memoryMiB: 524_288, cpuModel: "Intel Xeon Gold 6338" },
    usage: {
      cpuFraction: 0.42,
      memoryUsedMiB: 300_000,
      memoryAvailableMiB: 224_288,
      load1: 20.1,
      load5: 19.7,
      load15: 18.2,
      pressure: { cpuSome10: 1.5, memorySome10: 0, memoryFull10: 0, ioSome10: 0.2 },
    },
    storage: [{ path: "/srv/shared", fsType: "nfs4", shared: true, source: "nas:/export/vms" }],
    bridges: ["br0", "br-storage"],
    vms: Array.from({ length: vms }, (_, i) =>
      vmReport(i, {
        name: `vm-${host}-${i}`,
        vcpus: 1 + (i % 8),
        memoryMiB: 1024 * (1 + (i % 16)),
        cpuUsedVcpus: (i % 10) / 7,
        memoryUsedMiB: 700 * (1 + (i % 16)),
        vcpuWaitFraction: 0.01,
        dirtyRateMiBs: i % 2 ? 12.5 : null,
        disks: [
          { target: "vda", path: `/srv/shared/vm${i}.qcow2`, cacheMode: "none", shared: true },
          { target: "vdb", path: `/srv/shared/vm${i}-data.qcow2`, cacheMode: "none", shared: true },
        ],
        tags: ["web", `tier-${i % 3}`],
      }),
    ),
  });
}

/** "Move vm1 from h1 to h2" as the scheduler sends it (migration "mig-1", command "cmd-1"). */
export function migrateCommand(over: Partial<MigrateCommandInput> = {}): MigrateCommandInput {
  return {
    v: 1,
    id: "cmd-1",
    issuedAtMs: T0,
    kind: "migrate",
    migrationId: "mig-1",
    vm: "vm1",
    destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" },
    options: { maxDowntimeMs: 300, escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "abort" }] },
    ...over,
  };
}

/** Progress of migration "mig-1" (vm1, h1 -> h2) in its second pass. */
export function migrationProgress(over: Partial<MigrationProgressInput> = {}): MigrationProgressInput {
  return {
    v: 1,
    migrationId: "mig-1",
    commandId: "cmd-1",
    vm: "vm1",
    vmUuid: testUuid(1),
    source: "h1",
    destination: "h2",
    timeMs: T0 + 1200,
    elapsedMs: 1200,
    phase: "copying",
    dataTotalBytes: 100,
    dataProcessedBytes: 40,
    dataRemainingBytes: 60,
    memDirtyRateBps: 1000,
    bandwidthBps: 1e8,
    iteration: 2,
    expectedDowntimeMs: 30,
    escalations: [],
    ...over,
  };
}

/** Migration "mig-1" (vm1, h1 -> h2) succeeded live in 4 s with 250 ms downtime. */
export function migrationResult(over: Partial<MigrationResultInput> = {}): MigrationResultInput {
  return {
    v: 1,
    migrationId: "mig-1",
    commandId: "cmd-1",
    vm: "vm1",
    vmUuid: testUuid(1),
    source: "h1",
    destination: "h2",
    outcome: "succeeded",
    completedBy: "live",
    startedAtMs: T0,
    endedAtMs: T0 + 4000,
    durationMs: 4000,
    downtimeMs: 250,
    bytesMoved: 1e8,
    escalations: [],
    vmRunningOn: "h2",
    error: null,
    ...over,
  };
}
