// Small builders for test clusters. Defaults: a healthy 4-core 8000 MHz / 16 GiB host that can be
// powered off and woken; a 1-vCPU 1 GiB VM with a flat CPU history.
import type { ClusterConfigInput, ClusterSnapshot, Host, Rule, Vm } from "../src/index.js";

export const NOW = 1_800_000_000_000;

export function host(id: string, over: Partial<Host> = {}): Host {
  return {
    id,
    state: "healthy",
    cpuCores: 4,
    cpuCapacityMhz: 8000,
    memoryMiB: 16_384,
    power: { canPowerOff: true, canWake: true, wakeLatencyMs: 120_000 },
    ...over,
  };
}

export function vm(id: string, hostId: string, cpuMhz: number | number[], over: Partial<Vm> = {}): Vm {
  return {
    id,
    hostId,
    vcpus: 1,
    memoryMiB: 1024,
    cpuDemandMhzHistory: Array.isArray(cpuMhz) ? cpuMhz : [cpuMhz, cpuMhz, cpuMhz, cpuMhz, cpuMhz, cpuMhz],
    ...over,
  };
}

/** Config for tests: no cool-downs unless asked, generous limits. */
export function config(over: ClusterConfigInput = {}): ClusterConfigInput {
  return { limits: { perSource: 100, perDestination: 100, perCluster: 1000 }, ...over };
}

export function snap(
  hosts: Host[],
  vms: Vm[],
  extra: { rules?: Rule[]; config?: ClusterConfigInput } & Partial<ClusterSnapshot> = {},
): ClusterSnapshot {
  return { hosts, vms, config: config(), ...extra };
}
