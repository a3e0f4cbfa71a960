import { describe, expect, it } from "vitest";
import { busyFraction, hostCapacity, hostUsage, parseCpuinfo, parseMeminfo, parseProcStat } from "../src/host-metrics.js";

describe("host metrics from /proc", () => {
  it("parses /proc/stat's aggregate line; idle includes iowait, guest time is not counted twice", () => {
    const t = parseProcStat("cpu  100 5 50 800 40 3 2 0 30 0\ncpu0 50 2 25 400 20 1 1 0 15 0\nintr 1\n");
    expect(t).toEqual({ busy: 160, total: 1000 });
    expect(parseProcStat("intr 1\n")).toBeNull();
  });

  it("busy fraction is the share of the ticks between two samples", () => {
    const a = { busy: 160, total: 1000 };
    expect(busyFraction(null, a)).toBeCloseTo(0.16);
    expect(busyFraction(a, { busy: 460, total: 1400 })).toBeCloseTo(0.75);
    expect(busyFraction(a, a)).toBe(0);
  });

  it("parses MemTotal/MemAvailable and the CPU model", () => {
    expect(parseMeminfo("MemTotal:       2048 kB\nMemFree: 10 kB\nMemAvailable:    1024 kB\n")).toEqual({
      total: 2048 * 1024,
      available: 1024 * 1024,
    });
    expect(parseMeminfo("MemTotal: 2048 kB\n")).toBeNull();
    expect(parseCpuinfo("processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\ncpu MHz\t\t: 1999.5\n")).toEqual({
      model: "Example CPU @ 2.00GHz",
      mhz: 1999.5,
    });
    expect(parseCpuinfo("")).toEqual({ model: null, mhz: 0 });
  });

  it("reads this machine: plausible capacity and usage", async () => {
    const cap = await hostCapacity();
    expect(cap.cpus).toBeGreaterThan(0);
    expect(cap.mhz).toBeGreaterThan(0);
    expect(cap.memoryMiB).toBeGreaterThan(0);
    expect(cap.cpuModel.length).toBeGreaterThan(0);
    const u = await hostUsage();
    expect(u.cpuFraction).toBeGreaterThanOrEqual(0);
    expect(u.cpuFraction).toBeLessThanOrEqual(1);
    expect(u.memoryUsedMiB + u.memoryAvailableMiB).toBeGreaterThan(cap.memoryMiB * 0.9);
    expect(u.memoryUsedMiB + u.memoryAvailableMiB).toBeLessThanOrEqual(cap.memoryMiB + 1);
  });
});
