// Host capacity and usage straight from the kernel (/proc/stat, /proc/meminfo, /proc/cpuinfo):
// a few small file reads per report. (systeminformation did the same behind ~10 MB of module
// code resident in every agent.)
import { readFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
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

/** Aggregate CPU time from /proc/stat's first line, in ticks: busy and total. */
export interface CpuTicks {
  busy: number;
  total: number;
}

/** `cpu  user nice system idle iowait irq softirq steal guest guest_nice` -> ticks. Idle time is
 * idle + iowait; guest time is already inside user/nice, so it is not added again. */
export function parseProcStat(text: string): CpuTicks | null {
  const m = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!m) return null;
  const v = (m[1] as string).trim().split(/\s+/).map(Number);
  if (v.length < 4 || v.some((x) => !Number.isFinite(x))) return null;
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy share of all CPUs between two samples (since boot when `prev` is null), in [0, 1]. */
export function busyFraction(prev: CpuTicks | null, now: CpuTicks): number {
  const dBusy = now.busy - (prev?.busy ?? 0);
  const dTotal = now.total - (prev?.total ?? 0);
  if (!(dTotal > 0)) return 0;
  return Math.min(1, Math.max(0, dBusy / dTotal));
}

/** MemTotal and MemAvailable (bytes) from /proc/meminfo; null when either is missing. */
export function parseMeminfo(text: string): { total: number; available: number } | null {
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const total = kib("MemTotal");
  const available = kib("MemAvailable");
  return total !== null && available !== null ? { total, available } : null;
}

/** "model name" (x86) or "Model"/"Hardware" (arm) and "cpu MHz" of /proc/cpuinfo. */
export function parseCpuinfo(text: string): { model: string | null; mhz: number } {
  const model = /^(?:model name|Model|Hardware)\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() || null;
  const mhz = Number(/^cpu MHz\s*:\s*([0-9.]+)/m.exec(text)?.[1] ?? 0);
  return { model, mhz: Number.isFinite(mhz) ? mhz : 0 };
}

const readOr = (file: string) => readFile(file, "utf8").catch(() => "");

/** Static facts, read once. `libvirtMhz` wins when libvirt knows it (VMs often report 0 elsewhere). */
export async function hostCapacity(libvirtMhz?: number): Promise<HostCapacity> {
  const info = parseCpuinfo(await readOr("/proc/cpuinfo"));
  const mhz = [libvirtMhz ?? 0, info.mhz, cpus()[0]?.speed ?? 0].find((x) => x > 0);
  return {
    cpus: cpus().length,
    // The schema needs a positive number; 1 MHz marks "unknown" rather than inventing a clock.
    mhz: Math.round(mhz ?? 1),
    memoryMiB: Math.round(totalmem() / MiB),
    cpuModel: info.model ?? cpus()[0]?.model ?? "unknown",
  };
}

let lastTicks: CpuTicks | null = null;

/** Current load: CPU busy share since the previous call (since boot on the first), memory, load
 * averages and pressure. */
export async function hostUsage(): Promise<HostUsage> {
  const [stat, meminfo, pressure] = await Promise.all([readOr("/proc/stat"), readOr("/proc/meminfo"), readPressure()]);
  const ticks = parseProcStat(stat);
  const frac = ticks ? busyFraction(lastTicks, ticks) : 0;
  if (ticks) lastTicks = ticks;
  const mem = parseMeminfo(meminfo) ?? { total: totalmem(), available: totalmem() };
  const [l1, l5, l15] = loadavg();
  return {
    cpuFraction: Math.round(frac * 10_000) / 10_000,
    memoryUsedMiB: Math.round((mem.total - mem.available) / MiB),
    memoryAvailableMiB: Math.round(mem.available / MiB),
    load1: l1 ?? 0,
    load5: l5 ?? 0,
    load15: l15 ?? 0,
    pressure,
  };
}
