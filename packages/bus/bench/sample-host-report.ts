import type { HostReportInput } from "@drover/protocol";

/** A realistic host report with `vms` guests: the size the agents publish every few seconds. */
export function sampleHostReport(vms: number, host = "kvm01"): HostReportInput {
  return {
    v: 1,
    cluster: "lab",
    host,
    seq: 1,
    timeMs: 1_764_200_000_000,
    intervalMs: 5000,
    agentVersion: "0.1.0",
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
    libvirt: { reachable: true, uri: "qemu:///system", version: "9.0.0", latencyMs: 0.8, lastError: null, sinceMs: 1_764_100_000_000 },
    migrationUri: "qemu+tcp://127.0.1.1/system",
    storage: [{ path: "/srv/shared", fsType: "nfs4", shared: true, source: "nas:/export/vms" }],
    bridges: ["br0", "br-storage"],
    power: { canPowerOff: true, wake: [{ method: "wol", mac: "02:00:00:00:01:01", address: "127.0.1.1" }] },
    vms: Array.from({ length: vms }, (_, i) => ({
      uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      name: `vm-${host}-${i}`,
      state: "running" as const,
      vcpus: 1 + (i % 8),
      memoryMiB: 1024 * (1 + (i % 16)),
      cpuUsedVcpus: (i % 10) / 7,
      memoryUsedMiB: 700 * (1 + (i % 16)),
      vcpuWaitFraction: 0.01,
      dirtyRateMiBs: i % 2 ? 12.5 : null,
      disks: [
        { target: "vda", path: `/srv/shared/vm${i}.qcow2`, cacheMode: "none" as const, shared: true },
        { target: "vdb", path: `/srv/shared/vm${i}-data.qcow2`, cacheMode: "none" as const, shared: true },
      ],
      bridges: ["br0"],
      tags: ["web", `tier-${i % 3}`],
    })),
  };
}
