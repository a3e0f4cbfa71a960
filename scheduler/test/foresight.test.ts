// Remembered load and foresight: the load history written by the real ingest path (reports over a
// real nats-server into a real SQLite file), read back after a restart, exported by the API; the
// cluster's seasonal forecast going into planning with its error in /metrics; wakes timed by their
// measured latency.
import { describe, expect, it } from "vitest";
import { ApiError, ApiPowerAction, LoadHistoryResponse } from "@drover/protocol";
import { LOAD_BUCKET_MS, Store } from "@drover/store";
import { parseConfig } from "../src/config.js";
import { WakeLatencies } from "../src/power/wake-latency.js";
import { planningSnapshot } from "../src/snapshot.js";
import { get, harness, json, post, type Harness } from "./harness.js";
import { CLUSTER, udpListener, uuid } from "./helpers.js";

const load = async (h: Harness, q: string) => LoadHistoryResponse.parse(await json(await get(h.url(`/v1/history/load?${q}`))));
const snapshotOf = (h: Harness) =>
  planningSnapshot(
    { state: h.s.state, config: h.s.config, store: h.s.store, moves: h.s.dispatcher, foresight: h.s.foresight },
    h.clock.now(),
  );

describe("load history", () => {
  it("records hosts, VMs and the cluster from the reports, serves them, and seeds the histories again after a restart", async () => {
    // Only the test flushes (no flush timer), so each sample follows its report.
    await using h = await harness(
      ["a", "b"],
      { a: [{ uuid: uuid(1), name: "web1", cpu: 0.5 }] },
      { history: { resolutionMs: 1000 }, reports: { intervalMs: 1000, unreachableAfter: 3, flushIntervalMs: 3_600_000 } },
    );
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1000);
      await h.report();
      h.s.flush();
    }
    expect(h.s.store.load.series("host", "a", 0)).toHaveLength(5);
    const vm = await load(h, "vm=web1&sinceMs=0");
    expect(vm).toMatchObject({ kind: "vm", id: uuid(1) });
    expect(vm.points).toHaveLength(5);
    expect(vm.points.every((p) => p.bucketMs === 0 && p.cpuMhz > 0)).toBe(true);
    const cluster = await load(h, "sinceMs=0");
    expect(cluster).toMatchObject({ kind: "cluster", id: CLUSTER });
    // The cluster's total is its VMs' demand: here the one VM's.
    expect(cluster.points.map((p) => p.cpuMhz)).toEqual(vm.points.map((p) => p.cpuMhz));
    expect(cluster.forecast.mape).toBeNull(); // less than a day recorded

    const refused = await get(h.url("/v1/history/load?host=a&vm=web1"));
    expect(refused.status).toBe(400);
    expect(ApiError.parse(await json(refused)).error.message).toMatch(/vm/);
    expect((await get(h.url("/v1/history/load?host=nosuch"))).status).toBe(404);
    const none = await get(h.url(`/v1/history/load?vm=web1&sinceMs=${h.clock.now() + 1}`));
    expect([none.status, ApiError.parse(await json(none)).error.message]).toEqual([
      404,
      `no load recorded for vm "web1" (${uuid(1)}) in that period`,
    ]);

    const hostCpu = [...h.s.state.hosts.get("a")!.cpuMhz.values()];
    await h.restart();
    // Before any report: the host's history is what was recorded (one sample per report here).
    expect(h.s.state.hosts.get("a")!.cpuMhz.values()).toEqual(hostCpu);
    h.clock.advance(1000);
    await h.report();
    // The VM's history was seeded when it first reported again: 5 remembered + this report.
    expect(h.s.state.vm("web1")!.cpuMhz.length).toBe(6);
  }, 60_000);

  it("fits the cluster's daily pattern from the stored history at start: planning gets the forecast, /metrics its error", async () => {
    await using h = await harness(["a"], { a: [{ uuid: uuid(1), name: "web1", cpu: 0.5 }] });
    const now = h.clock.now();
    // Eight days of 5-minute buckets (via full-resolution samples folded by compaction): busy 8-18 h.
    const rows = [];
    for (let t = now - 8 * 86_400_000; t < now - LOAD_BUCKET_MS; t += LOAD_BUCKET_MS) {
      const hour = new Date(t).getUTCHours();
      rows.push({
        kind: "cluster" as const,
        id: CLUSTER,
        atMs: t,
        cpuMhz: hour >= 8 && hour < 18 ? 6000 : 1000,
        cpuMaxMhz: 0,
        memoryMiB: 0,
      });
    }
    h.s.store.load.append(rows);
    h.s.store.load.compact({ foldBeforeMs: now - 3_600_000, dropBeforeMs: 0, maxRows: 1_000_000 });
    expect(snapshotOf(h).demandForecast).toBeUndefined();
    await h.restart();
    const f = snapshotOf(h).demandForecast!;
    expect(f.stepMs).toBe(LOAD_BUCKET_MS);
    expect(f.cpuMhz.length).toBe(24); // two hours ahead
    const hour = new Date(f.fromMs + LOAD_BUCKET_MS / 2).getUTCHours();
    expect(f.cpuMhz[0]).toBeCloseTo(hour >= 8 && hour < 18 ? 6000 : 1000, -2);
    const metrics = await (await get(h.url("/metrics"))).text();
    const mape = Number(/^drover_forecast_mape (\S+)$/m.exec(metrics)?.[1]);
    expect(mape).toBeGreaterThanOrEqual(0);
    expect(mape).toBeLessThan(0.2);
  }, 60_000);
});

describe("wake latency", () => {
  it("is measured from the wake to the healthy report, stored, and times the host's wakes in planning", async () => {
    const udp = await udpListener();
    try {
      const wol = { wake: "wol" as const, mac: "02:00:00:00:00:0b", address: "127.0.0.1", port: udp.port, wakeTimeoutMs: 600_000 };
      await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] }, { hosts: { b: { power: wol } } });
      await h.report();
      // Before any wake: the configured timeout, as before, and no known time b came on.
      expect(snapshotOf(h).hosts.find((x) => x.id === "b")!.power.wakeLatencyMs).toBe(600_000);
      expect(snapshotOf(h).hosts.find((x) => x.id === "b")!.onSinceMs).toBeUndefined();
      const off = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/b/power"), { action: "off" })));
      await expect.poll(() => !h.agents.up.has("b"), { timeout: 15_000, interval: 20 }).toBe(true);
      h.clock.advance(3001);
      await h.report(["a"]);
      await h.s.tick();
      expect(h.s.store.power.get(off.id)!.status).toBe("succeeded");

      const on = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/b/power"), { action: "on" })));
      h.clock.advance(42_000);
      h.agents.revive("b");
      await h.report(["a", "b"]);
      expect(h.s.store.power.get(on.id)!.status).toBe("succeeded");
      expect(h.s.power.wakeLatencies.p90("b")).toBe(42_000);
      expect(snapshotOf(h).hosts.find((x) => x.id === "b")!.power.wakeLatencyMs).toBe(42_000);
      // Consolidation keeps a host on `minOnMs` from when it came on: planning is told when.
      const cameOn = h.clock.now();
      expect(snapshotOf(h).hosts.find((x) => x.id === "b")!.onSinceMs).toBe(cameOn);
      expect(await (await get(h.url("/metrics"))).text()).toMatch(/^drover_host_wake_latency_p90_seconds\{host="b"\} 42$/m);
      // Stored: a restarted scheduler times b's wakes the same way.
      await h.restart();
      expect(h.s.power.wakeLatencies.expectedMs("b")).toBe(42_000);
      expect(h.s.power.wakeLatencies.onSinceMs("b")).toBe(cameOn);
    } finally {
      udp.sock.close();
    }
  }, 60_000);
});

describe("a host whose wakes keep failing", () => {
  it("is expected to take a timeout more per failure in a row, so it is woken last; a success resets it", () => {
    using store = Store.open({ path: ":memory:" });
    const wol = { wake: "wol" as const, mac: "02:00:00:00:00:0b", address: "127.0.0.1", wakeTimeoutMs: 100_000 };
    const config = parseConfig({
      cluster: CLUSTER,
      nats: { servers: ["nats://127.0.0.1:1"] },
      stateDir: "/nonexistent",
      hosts: { b: { power: wol }, c: { power: wol } },
    });
    const wake = (id: string, host: string, at: number, status: "succeeded" | "failed" | "timed-out", tookMs: number) => {
      store.power.record({ id, host, action: "wake", method: "wol", requestedBy: "test", reason: "test", atMs: at });
      return store.power.update(id, { status, atMs: at + tookMs });
    };
    for (const [i, ms] of [30_000, 40_000, 50_000].entries()) wake(`b${i}`, "b", i * 1000_000, "succeeded", ms);
    wake("c0", "c", 0, "succeeded", 20_000);
    wake("c1", "c", 1_000_000, "timed-out", 100_000);
    wake("c2", "c", 2_000_000, "failed", 1000);
    const w = new WakeLatencies({ store, config }, ["b", "c"]);
    expect(w.p90("b")).toBe(50_000);
    expect(w.expectedMs("b")).toBe(50_000);
    // c's own wakes are fast, but its last two failed: 20 s + 2 timeouts.
    expect(w.failuresInRow("c")).toBe(2);
    expect(w.expectedMs("c")).toBe(220_000);
    w.ended(wake("c3", "c", 3_000_000, "succeeded", 10_000));
    expect(w.expectedMs("c")).toBe(20_000);
  });
});

describe("when a host came on", () => {
  it("is its last successful wake, forgotten by a power-off that succeeds, and read back from the store", () => {
    using store = Store.open({ path: ":memory:" });
    const config = parseConfig({ cluster: CLUSTER, nats: { servers: ["nats://127.0.0.1:1"] }, stateDir: "/nonexistent" });
    const act = (id: string, host: string, action: "wake" | "power-off", at: number, status: "succeeded" | "failed") => {
      store.power.record({ id, host, action, method: "test", requestedBy: "test", reason: "test", atMs: at });
      return store.power.update(id, { status, atMs: at + 1000 });
    };
    act("b0", "b", "wake", 10_000, "succeeded");
    act("b1", "b", "power-off", 20_000, "failed");
    act("c0", "c", "wake", 10_000, "succeeded");
    act("c1", "c", "power-off", 20_000, "succeeded");
    const w = new WakeLatencies({ store, config }, ["b", "c", "d"]);
    // A failed power-off leaves b on since its wake; c went off after its wake; d never woke.
    expect(w.onSinceMs("b")).toBe(11_000);
    expect(w.onSinceMs("c")).toBeUndefined();
    expect(w.onSinceMs("d")).toBeUndefined();
    w.ended(act("b2", "b", "power-off", 30_000, "succeeded"));
    expect(w.onSinceMs("b")).toBeUndefined();
    w.ended(act("c2", "c", "wake", 40_000, "succeeded"));
    expect(w.onSinceMs("c")).toBe(41_000);
    // Powered on by someone else (a report from standby).
    w.cameOn("d", 50_000);
    expect(w.onSinceMs("d")).toBe(50_000);
  });
});
