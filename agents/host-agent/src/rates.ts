/** One VM's raw counters at one instant, as read from libvirt's bulk stats. */
export interface VmCounters {
  uuid: string;
  /** Wall clock of the sample, ns (monotonic). */
  atNs: bigint;
  /** cpu.time: total CPU the guest consumed, ns. */
  cpuTimeNs: bigint | null;
  /** Sum of vcpu.N.delay (time runnable but waiting for a host CPU), ns; null if not exposed. */
  vcpuDelayNs: bigint | null;
  vcpus: number;
}

export interface VmRates {
  /** CPU used, in vCPUs (1.0 = one vCPU fully busy). */
  cpuUsedVcpus: number;
  /** Share of time the vCPUs (on average) were runnable but waiting for a host CPU. */
  vcpuWaitFraction: number;
}

const ZERO: VmRates = { cpuUsedVcpus: 0, vcpuWaitFraction: 0 };

/**
 * Rates between two samples of the same VM. A first sample, a counter reset (the VM restarted or
 * came in by migration) or a non-positive interval yields zeros rather than a wild number.
 */
export function ratesBetween(prev: VmCounters | undefined, cur: VmCounters): VmRates {
  if (!prev || prev.uuid !== cur.uuid) return ZERO;
  const wall = Number(cur.atNs - prev.atNs);
  if (!(wall > 0)) return ZERO;
  let cpu = 0;
  if (prev.cpuTimeNs !== null && cur.cpuTimeNs !== null && cur.cpuTimeNs >= prev.cpuTimeNs) {
    cpu = Number(cur.cpuTimeNs - prev.cpuTimeNs) / wall;
  }
  let wait = 0;
  if (prev.vcpuDelayNs !== null && cur.vcpuDelayNs !== null && cur.vcpuDelayNs >= prev.vcpuDelayNs) {
    wait = Number(cur.vcpuDelayNs - prev.vcpuDelayNs) / wall / Math.max(1, cur.vcpus);
  }
  return { cpuUsedVcpus: round(Math.min(cpu, cur.vcpus * 1.05)), vcpuWaitFraction: round(Math.min(wait, 1)) };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** Keeps the previous sample per VM; forgets VMs that left. */
export class RateTracker {
  private prev = new Map<string, VmCounters>();

  update(samples: readonly VmCounters[]): Map<string, VmRates> {
    const next = new Map<string, VmCounters>();
    const out = new Map<string, VmRates>();
    for (const s of samples) {
      out.set(s.uuid, ratesBetween(this.prev.get(s.uuid), s));
      next.set(s.uuid, s);
    }
    this.prev = next;
    return out;
  }
}
