import type { CommandInput, HostReportInput } from "../src/index.js";

export function vm(i: number) {
  return {
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    name: `vm${i}`,
    state: "running" as const,
    vcpus: 2,
    memoryMiB: 2048,
    cpuUsedVcpus: 0.7,
    memoryUsedMiB: 1500,
    vcpuWaitFraction: 0.01,
    dirtyRateMiBs: i % 2 ? 12.5 : null,
    disks: [{ target: "vda", path: `/srv/shared/vm${i}.qcow2`, cacheMode: "none" as const, shared: true }],
    bridges: ["br0"],
    tags: ["web"],
  };
}

export function hostReport(vms = 3): HostReportInput {
  return {
    v: 1,
    cluster: "lab",
    host: "h1",
    seq: 7,
    timeMs: 1_764_200_000_000,
    intervalMs: 5000,
    agentVersion: "0.1.0",
    capacity: { cpus: 32, mhz: 2600, memoryMiB: 262144, cpuModel: "Xeon" },
    usage: {
      cpuFraction: 0.42,
      memoryUsedMiB: 100000,
      memoryAvailableMiB: 160000,
      load1: 10,
      load5: 9,
      load15: 8,
      pressure: { cpuSome10: 1.5, memorySome10: 0, memoryFull10: 0, ioSome10: 0.2 },
    },
    libvirt: { reachable: true, uri: "qemu:///system", version: "9.0.0", latencyMs: 0.8, lastError: null, sinceMs: 1_764_100_000_000 },
    migrationUri: "qemu+tcp://127.0.1.1/system",
    storage: [{ path: "/srv/shared", fsType: "nfs4", shared: true }],
    bridges: ["br0"],
    power: { canPowerOff: true, wake: [{ method: "wol", mac: "02:00:00:00:01:01", address: "127.0.1.1" }] },
    vms: Array.from({ length: vms }, (_, i) => vm(i)),
  };
}

export const migrateCommand: CommandInput = {
  v: 1,
  id: "cmd-1",
  issuedAtMs: 1_764_200_000_000,
  kind: "migrate",
  migrationId: "mig-1",
  vm: "vm1",
  destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" },
  options: { maxDowntimeMs: 300, escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "abort" }] },
};
