import { describe, expect, it } from "vitest";
import { ratesBetween, RateTracker, type VmCounters } from "../src/rates.js";
import { parsePressure } from "../src/pressure.js";

const s = (atS: number, cpuS: number, delayS: number | null, vcpus = 2, uuid = "u1"): VmCounters => ({
  uuid,
  atNs: BigInt(atS * 1e9),
  cpuTimeNs: BigInt(cpuS * 1e9),
  vcpuDelayNs: delayS === null ? null : BigInt(delayS * 1e9),
  vcpus,
});

describe("per-VM rates", () => {
  it("computes CPU in vCPUs and vCPU wait as a share per vCPU", () => {
    const r = ratesBetween(s(10, 100, 1), s(15, 107.5, 2));
    expect(r.cpuUsedVcpus).toBe(1.5);
    expect(r.vcpuWaitFraction).toBe(0.1);
  });

  it("yields zeros for a first sample, a counter reset, or missing delay", () => {
    expect(ratesBetween(undefined, s(1, 1, 1))).toEqual({ cpuUsedVcpus: 0, vcpuWaitFraction: 0 });
    expect(ratesBetween(s(10, 100, 5), s(15, 2, 0)).cpuUsedVcpus).toBe(0);
    expect(ratesBetween(s(10, 100, null), s(15, 105, null))).toEqual({ cpuUsedVcpus: 1, vcpuWaitFraction: 0 });
  });

  it("tracks VMs across samples and forgets those that left", () => {
    const t = new RateTracker();
    t.update([s(0, 0, 0, 1, "a"), s(0, 0, 0, 1, "b")]);
    const r = t.update([s(5, 2.5, 0, 1, "a")]);
    expect(r.get("a")?.cpuUsedVcpus).toBe(0.5);
    expect(r.has("b")).toBe(false);
    expect(t.update([s(10, 1, 0, 1, "b")]).get("b")?.cpuUsedVcpus).toBe(0);
  });

  it("parses /proc/pressure lines", () => {
    expect(
      parsePressure("some avg10=5.85 avg60=8.27 avg300=5.19 total=31332467\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=0\n"),
    ).toEqual({ some: 5.85, full: 0.1 });
  });
});
