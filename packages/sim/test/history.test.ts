// A cluster's recorded history as a simulation (fromHistory), the rounds with a booting host on their
// own (wakeWindows), and the seasonal forecaster in the simulator's Drover policy.
import { describe, expect, it } from "vitest";
import type { LoadReplayResponse } from "@drover/protocol";
import { DroverPolicy, fromHistory, fromSeries, simulate } from "../src/index.js";

const replay = (over: Partial<LoadReplayResponse> = {}): LoadReplayResponse => ({
  cluster: "lab",
  startMs: 0,
  stepMs: 300_000,
  steps: 12,
  hosts: [
    { id: "a", cpus: 4, mhz: 2000, memoryMiB: 8192, idleW: 80, maxW: 200 },
    { id: "b", cpus: 4, mhz: 2000, memoryMiB: 8192, idleW: null, maxW: null },
    { id: "c", cpus: 8, mhz: 2500, memoryMiB: 16384, idleW: 120, maxW: 300 },
  ],
  vms: [
    { id: "u1", name: "web1", vcpus: 2, memoryMiB: 2048, cpuMhz: Array.from({ length: 12 }, (_, i) => 1000 + 100 * i) },
    { id: "u2", name: "web2", vcpus: 2, memoryMiB: 2048, cpuMhz: Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? null : 500)) },
    { id: "u3", name: "db1", vcpus: 4, memoryMiB: 4096, cpuMhz: Array.from({ length: 12 }, () => 3000) },
  ],
  actual: { migrations: 0, activeHostsMean: 3, energyKwh: null },
  ...over,
});

describe("fromHistory", () => {
  it("turns hosts into types of their whole MHz and watts, VMs into sizes, demand into percent of each VM", () => {
    const r = fromHistory(replay());
    expect(r.hosts).toBe(3);
    expect(r.hostTypeOf).toEqual([0, 1, 2]);
    expect(r.hostTypes[0]).toMatchObject({ peMips: 8000, pes: 1, ramMb: 8192 });
    expect(r.hostTypes[0]!.power.table[0]).toBe(80);
    expect(r.hostTypes[0]!.power.table[10]).toBe(200);
    expect(r.assumedPower).toBe(1);
    expect(r.vmTypeOf).toEqual([0, 0, 1]);
    expect(r.vmTypes[1]).toMatchObject({ mips: 4 * 2500, ramMb: 4096 });
    // web1: 1000 MHz of 2 x 2500 = 20 %; a step web2 did not report is idle.
    expect(r.workload.data[0]).toBeCloseTo(0.2, 9);
    expect(r.workload.data[r.workload.stride]).toBe(0);
    const sim = simulate({ ...r, policy: new DroverPolicy({ coreSpeedModels: false }), mode: "clean" });
    expect(sim.energyKwh).toBeGreaterThan(0);
    expect(sim.refusedPowerOffs).toBe(0);
  });

  it("names what is missing", () => {
    expect(() => fromHistory(replay({ hosts: [] }))).toThrow(/no host/);
    expect(() => fromHistory(replay({ vms: [] }))).toThrow(/no VM load/);
    expect(() => fromHistory(replay({ steps: 1 }))).toThrow(/at least 2/);
    // Too short a history has no VM load on its grid either; the length is what to tell.
    expect(() => fromHistory(replay({ steps: 0, vms: [] }))).toThrow(
      /covers 0 whole 5-minute step\(s\) from .*: at least 2 are needed .*--since/,
    );
  });
});

describe("wake windows and the forecaster", () => {
  // Two days of 5-minute steps: quiet nights, a busy morning every day.
  const day = 288;
  const busy = (k: number) => (k % day >= 96 && k % day < 216 ? 90 : 5);
  const workload = fromSeries(
    Array.from({ length: 40 }, (_, v) => `vm${v}`),
    Array.from({ length: 40 }, () => Array.from({ length: 2 * day }, (_, k) => busy(k))),
  );

  it("accounts the rounds with a booting host on their own; none without a boot delay", () => {
    const booting = simulate({ workload, policy: new DroverPolicy(), mode: "clean+ram", hosts: 40, bootSeconds: 600 });
    expect(booting.wakeWindows.roundShare).toBeGreaterThan(0);
    expect(booting.wakeWindows.unserved).toBeGreaterThanOrEqual(0);
    expect(booting.wakeWindows.unserved).toBeLessThanOrEqual(1);
    const instant = simulate({ workload, policy: new DroverPolicy(), mode: "clean", hosts: 40 });
    expect(instant.wakeWindows.roundShare).toBe(0);
  });

  it("with the forecaster, the second morning finds hosts awake: less demand unserved than with the window alone", () => {
    // Small VMs (memory lets a few hosts hold them all at night) whose morning needs many more.
    const vmTypes = [{ mips: 2500, ramMb: 256, bwKbps: 100_000 }];
    const run = (forecaster: boolean) =>
      simulate({ workload, policy: new DroverPolicy({ forecaster }), mode: "clean+ram", hosts: 40, bootSeconds: 600, vmTypes });
    const without = run(false);
    const withF = run(true);
    expect(withF.unserved).toBeLessThan(without.unserved);
    expect(withF.wakeWindows.unserved).toBeLessThan(without.wakeWindows.unserved);
  });
});
