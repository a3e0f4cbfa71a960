import { describe, expect, it } from "vitest";
import { decodeDomainStats, decodeJobStats, LibvirtArgumentError, migrateParamsToTyped } from "../src/index.js";
import type { TypedPair } from "../src/index.js";

describe("decodeDomainStats", () => {
  it("decodes every group into objects and keeps raw keys", () => {
    const params: TypedPair[] = [
      ["state.state", 1],
      ["state.reason", 1],
      ["cpu.time", 5_000_000_000],
      ["cpu.user", 3_000_000_000],
      ["cpu.system", 1_000_000_000],
      ["balloon.current", 131072],
      ["balloon.maximum", 262144],
      ["balloon.rss", 90000],
      ["balloon.usable", 60000],
      ["balloon.available", 120000],
      ["vcpu.current", 2],
      ["vcpu.maximum", 4],
      ["vcpu.1.state", 1],
      ["vcpu.1.time", 20],
      ["vcpu.1.delay", 7],
      ["vcpu.0.state", 1],
      ["vcpu.0.time", 10],
      ["vcpu.0.wait", 3],
      ["vcpu.0.delay", 5],
      ["vcpu.0.halted", true],
      ["net.count", 1],
      ["net.0.name", "vnet0"],
      ["net.0.rx.bytes", 100],
      ["net.0.tx.bytes", 200],
      ["net.0.rx.drop", 1],
      ["block.count", 1],
      ["block.0.name", "vda"],
      ["block.0.path", "/var/lib/x.qcow2"],
      ["block.0.rd.bytes", 4096],
      ["block.0.wr.bytes", 8192],
      ["block.0.capacity", 1 << 30],
      ["dirtyrate.calc_status", 2],
      ["dirtyrate.calc_start_time", 1700000000],
      ["dirtyrate.calc_period", 1],
      ["dirtyrate.megabytes_per_second", 42],
      ["dirtyrate.calc_mode", "page-sampling"],
      ["dirtyrate.vcpu.0.megabytes_per_second", 40],
      ["dirtyrate.vcpu.1.megabytes_per_second", 2],
      ["perf.cmt", 0],
    ];
    const s = decodeDomainStats("g1", "u1", params);
    expect(s.name).toBe("g1");
    expect(s.state).toEqual({ state: "running", reason: 1 });
    expect(s.cpu).toEqual({ timeNs: 5e9, userNs: 3e9, systemNs: 1e9 });
    expect(s.balloon).toEqual({ currentKiB: 131072, maximumKiB: 262144, rssKiB: 90000, usableKiB: 60000, availableKiB: 120000 });
    expect(s.vcpuCount).toEqual({ current: 2, maximum: 4 });
    expect(s.vcpu).toEqual([
      { index: 0, state: 1, timeNs: 10, waitNs: 3, delayNs: 5, halted: true },
      { index: 1, state: 1, timeNs: 20, delayNs: 7 },
    ]);
    expect(s.net).toEqual([{ index: 0, name: "vnet0", rxBytes: 100, txBytes: 200, rxDrop: 1 }]);
    expect(s.block).toEqual([{ index: 0, name: "vda", path: "/var/lib/x.qcow2", rdBytes: 4096, wrBytes: 8192, capacity: 1 << 30 }]);
    expect(s.dirtyRate).toEqual({
      status: "measured",
      startTimeS: 1700000000,
      periodS: 1,
      mibPerS: 42,
      mode: "page-sampling",
      vcpuMibPerS: [40, 2],
    });
    expect(s.raw["perf.cmt"]).toBe(0);
  });

  it("leaves groups out that libvirt did not report", () => {
    const s = decodeDomainStats("g", "u", [
      ["state.state", 5],
      ["state.reason", 0],
    ]);
    expect(s.state?.state).toBe("shutoff");
    expect(s.cpu).toBeUndefined();
    expect(s.balloon).toBeUndefined();
    expect(s.dirtyRate).toBeUndefined();
    expect(s.vcpu).toEqual([]);
  });
});

describe("decodeJobStats", () => {
  it("maps libvirt's job keys", () => {
    const j = decodeJobStats(1, [
      ["operation", 5],
      ["time_elapsed", 1500],
      ["data_total", 100],
      ["data_processed", 60],
      ["data_remaining", 40],
      ["memory_dirty_rate", 1234],
      ["memory_iteration", 3],
      ["memory_bps", 99],
      ["auto_converge_throttle", 20],
      ["downtime", 300],
      ["success", true],
      ["errmsg", "x"],
    ]);
    expect(j).toMatchObject({
      type: "bounded",
      operation: 5,
      timeElapsedMs: 1500,
      dataTotal: 100,
      dataProcessed: 60,
      dataRemaining: 40,
      memDirtyRate: 1234,
      memIteration: 3,
      memBps: 99,
      autoConvergeThrottle: 20,
      downtimeMs: 300,
      success: true,
      errorMessage: "x",
    });
    expect(decodeJobStats(0, []).type).toBe("none");
    expect(decodeJobStats(42, []).type).toBe("unknown");
  });
});

describe("migrateParamsToTyped", () => {
  it("maps fields to VIR_MIGRATE_PARAM_* names and types, repeating list fields", () => {
    expect(
      migrateParamsToTyped({
        uri: "tcp://127.0.1.2",
        destName: "g2",
        bandwidthMiBs: 100,
        migrateDisks: ["vda", "vdb"],
        autoConvergeInitial: 20,
        autoConvergeIncrement: 10,
        parallelConnections: 2,
        listenAddress: "127.0.1.2",
      }),
    ).toEqual([
      { name: "migrate_uri", type: "string", value: "tcp://127.0.1.2" },
      { name: "destination_name", type: "string", value: "g2" },
      { name: "bandwidth", type: "ullong", value: 100 },
      { name: "migrate_disks", type: "string", value: "vda" },
      { name: "migrate_disks", type: "string", value: "vdb" },
      { name: "auto_converge.initial", type: "int", value: 20 },
      { name: "auto_converge.increment", type: "int", value: 10 },
      { name: "parallel.connections", type: "int", value: 2 },
      { name: "listen_address", type: "string", value: "127.0.1.2" },
    ]);
  });

  it("refuses bad input naming the field", () => {
    expect(() => migrateParamsToTyped({ bandwidthMiBs: -1 })).toThrow(/bandwidthMiBs/);
    expect(() => migrateParamsToTyped({ autoConvergeInitial: 101 })).toThrow(LibvirtArgumentError);
    expect(() => migrateParamsToTyped({ uri: "" })).toThrow(/uri/);
    expect(() => migrateParamsToTyped({ migrateDisks: ["vda", 3 as unknown as string] })).toThrow(/migrateDisks/);
    expect(() => migrateParamsToTyped({ bogus: 1 } as never)).toThrow(/unknown field "bogus"/);
  });
});
