import { readFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import si from "systeminformation";
import { readPressure, type Pressure } from "./pressure.js";

export interface HostCapacity {
  cpus: number;
  mhz: number;
  memoryMiB: number;
  cpuModel: string;
}

export interface HostUsage {
  cpuFraction: number;
  memoryUsedMiB: number;
  memoryAvailableMiB: number;
  load1: number;
  load5: number;
  load15: number;
  pressure: Pressure | null;
}

const MiB = 1024 * 1024;

async function cpuinfoMhz(): Promise<number> {
  try {
    const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(await readFile("/proc/cpuinfo", "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Static facts, read once. `libvirtMhz` wins when libvirt knows it (VMs often report 0 elsewhere). */
export async function hostCapacity(libvirtMhz?: number): Promise<HostCapacity> {
  const c = await si.cpu();
  const mhz = [libvirtMhz ?? 0, await cpuinfoMhz(), (c.speed || 0) * 1000, cpus()[0]?.speed ?? 0].find((x) => x > 0);
  return {
    cpus: cpus().length,
    // The schema needs a positive number; 1 MHz marks "unknown" rather than inventing a clock.
    mhz: Math.round(mhz ?? 1),
    memoryMiB: Math.round(totalmem() / MiB),
    cpuModel: [c.manufacturer, c.brand].filter(Boolean).join(" ") || cpus()[0]?.model || "unknown",
  };
}

/** Current load: systeminformation for CPU and memory, the kernel for load and pressure. */
export async function hostUsage(): Promise<HostUsage> {
  const [load, mem, pressure] = await Promise.all([si.currentLoad(), si.mem(), readPressure()]);
  const [l1, l5, l15] = loadavg();
  const frac = Number.isFinite(load.currentLoad) ? load.currentLoad / 100 : 0;
  return {
    cpuFraction: Math.min(1, Math.max(0, Math.round(frac * 10_000) / 10_000)),
    memoryUsedMiB: Math.round((mem.total - mem.available) / MiB),
    memoryAvailableMiB: Math.round(mem.available / MiB),
    load1: l1 ?? 0,
    load5: l5 ?? 0,
    load15: l15 ?? 0,
    pressure,
  };
}
