// The scheduler's /metrics after known events: a real scheduler, nats-server and SQLite file, with
// the in-test agents. Values are read from the Prometheus text as a scraper would.
import { describe, expect, it } from "vitest";
import { ApiMigration, ApiPlan, ApiPowerAction, HostReport, subjects } from "@drover/protocol";
import { get, harness, json, post, type Harness } from "./harness.js";
import { CLUSTER, report, uuid } from "./helpers.js";

/** The value of the one series of `name` carrying these labels (and no others). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const head = want ? `${name}{${want}} ` : `${name} `;
  const found = text.split("\n").filter((l) => l.startsWith(head));
  if (found.length !== 1) throw new Error(`expected one series ${head.trim()}, found ${found.length}; exported:\n${seriesOf(text, name)}`);
  return Number(found[0]!.slice(head.length));
}
const seriesOf = (text: string, name: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(name))
    .join("\n") || "(none)";

const scrape = async (h: Harness) => (await get(h.url("/metrics"))).text();

const MAC = "02:00:00:00:00:0c";

describe("scheduler metrics", () => {
  it("exports each host's load, state and estimated watts, the cluster as the policies measure it, and NATS state", async () => {
    await using h = await harness(
      ["a", "b", "c"],
      {
        a: [
          { uuid: uuid(1), name: "web1" },
          { uuid: uuid(2), name: "web2" },
        ],
      },
      {
        hosts: {
          a: { power: { idleW: 100, maxW: 300 } },
          b: { power: { idleW: 120, maxW: 250 } },
          // Port 9 on loopback: nothing listens, and this test never wakes c.
          c: { power: { wake: "wol", mac: MAC, address: "127.0.0.1", idleW: 80, maxW: 200 } },
        },
      },
    );
    await h.report();
    const off = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/c/power"), { action: "off" })));
    await expect.poll(() => !h.agents.up.has("c"), { timeout: 15_000, interval: 20, message: "c powered off" }).toBe(true);
    h.clock.advance(3001);
    await h.report(["a", "b"]);
    await h.s.tick();
    expect(h.s.store.power.get(off.id)!.status).toBe("succeeded");

    const t = await scrape(h);
    expect(value(t, "drover_host_state", { host: "c", state: "standby" })).toBe(1);
    expect(value(t, "drover_host_state", { host: "c", state: "healthy" })).toBe(0);
    expect(value(t, "drover_host_state", { host: "a", state: "healthy" })).toBe(1);
    expect(value(t, "drover_hosts", { state: "healthy" })).toBe(2);
    expect(value(t, "drover_hosts", { state: "standby" })).toBe(1);
    // The fresh reports of a and b (the in-test agents report 10% CPU and 2 of 32 GiB); c reports no more.
    expect(value(t, "drover_host_cpu_ratio", { host: "b" })).toBeCloseTo(0.1);
    expect(value(t, "drover_host_memory_ratio", { host: "b" })).toBeCloseTo(2048 / 32768);
    expect(value(t, "drover_host_contention_ratio", { host: "b" })).toBe(0);
    expect(() => value(t, "drover_host_cpu_ratio", { host: "c" })).toThrow(/found 0/);
    expect(value(t, "drover_host_power_watts", { host: "a" })).toBeCloseTo(100 + 200 * 0.1);
    expect(value(t, "drover_host_power_watts", { host: "b" })).toBeCloseTo(120 + 130 * 0.1);
    expect(value(t, "drover_host_power_watts", { host: "c" })).toBe(0);
    expect(value(t, "drover_power_saved_watts")).toBe(80);
    expect(value(t, "drover_cluster_active_hosts")).toBe(2);
    expect(value(t, "drover_nats_connected")).toBe(1);
    expect(value(t, "drover_scheduler_leading")).toBe(1);

    // The imbalance is the one a plan made on the same picture measures before its steps.
    const plan = ApiPlan.parse(await json(await post(h.url("/v1/plan"), { kind: "balance" })));
    const imbalance = value(await scrape(h), "drover_cluster_imbalance");
    expect(imbalance).toBeGreaterThan(0);
    expect(imbalance).toBeCloseTo(plan.metrics.imbalanceBefore, 9);

    // a at 25% CPU, its guests waiting for a CPU 50% and 10% of their (single) vCPU's time.
    const r = report("a", h.agents.on("a"), h.clock.now(), { usage: { ...report("a", [], 0).usage, cpuFraction: 0.25 } });
    r.vms = r.vms.map((v, i) => ({ ...v, vcpuWaitFraction: [0.5, 0.1][i]! }));
    const seen = h.s.state.counters.reports;
    h.agents.bus.publish(subjects.hostReport(CLUSTER, "a"), HostReport, r);
    await expect.poll(() => h.s.state.counters.reports, { timeout: 15_000, interval: 20 }).toBe(seen + 1);
    const t2 = await scrape(h);
    expect(value(t2, "drover_host_cpu_ratio", { host: "a" })).toBeCloseTo(0.25);
    expect(value(t2, "drover_host_contention_ratio", { host: "a" })).toBeCloseTo(0.3);
    expect(value(t2, "drover_host_power_watts", { host: "a" })).toBeCloseTo(100 + 200 * 0.25);

    await h.nats.stop();
    await expect.poll(async () => value(await scrape(h), "drover_nats_connected"), { timeout: 15_000, interval: 50 }).toBe(0);
  });

  it("counts moves by outcome and strategy with their duration, downtime and prediction error, and failed preflight checks", async () => {
    await using h = await harness(["a", "b"], {
      a: [
        { uuid: uuid(1), name: "web1" },
        { uuid: uuid(2), name: "web2" },
      ],
    });
    await h.report();
    const moved = ApiMigration.parse(await json(await post(h.url("/v1/migrations"), { vm: "web1", host: "b" })));
    await expect.poll(() => h.s.store.migrations.get(moved.id)?.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    const row = h.s.store.migrations.get(moved.id)!;
    expect(row.strategy).not.toBeNull();
    expect(row.predictedDurationMs).toBeGreaterThan(0);
    const strategy = row.strategy!;

    h.agents.behaviour = { ...h.agents.behaviour, preflightOk: false };
    const refused = ApiMigration.parse(await json(await post(h.url("/v1/migrations"), { vm: "web2", host: "b" })));
    await expect.poll(() => h.s.store.migrations.get(refused.id)?.status, { timeout: 15_000, interval: 20 }).toBe("failed");
    const failedStrategy = h.s.store.migrations.get(refused.id)!.strategy ?? "unknown";

    // Garbage on a migration's result subject: counted under the subject with the id as *.
    h.agents.bus.nc.publish(subjects.migrationResult(CLUSTER, "a", "m-garbage-1"), new TextEncoder().encode("{"));
    h.agents.bus.nc.publish(subjects.migrationResult(CLUSTER, "a", "m-garbage-2"), new TextEncoder().encode("{"));
    await h.agents.bus.flush();
    const resultSubject = subjects.migrationResult(CLUSTER, "a", "*");
    await expect
      .poll(async () => (await scrape(h)).includes(`drover_bus_invalid_messages_total{subject="${resultSubject}"} 2`), {
        timeout: 15_000,
        interval: 50,
      })
      .toBe(true);

    const t = await scrape(h);
    expect(value(t, "drover_migrations_total", { outcome: "succeeded", strategy })).toBe(1);
    expect(value(t, "drover_migrations_total", { outcome: "failed", strategy: failedStrategy })).toBe(1);
    // Two moves ended, so two counts in all: each move is counted once, under its strategy (the soak
    // found a second, unlabelled count of every move).
    expect(
      seriesOf(t, "drover_migrations_total")
        .split("\n")
        .filter((l) => !l.startsWith("#")),
    ).toHaveLength(2);
    // The in-test agent measures 50 ms and 5 ms of downtime; a failed preflight measures nothing.
    expect(value(t, "drover_migration_duration_seconds_count", { strategy })).toBe(1);
    expect(value(t, "drover_migration_duration_seconds_sum", { strategy })).toBeCloseTo(0.05);
    expect(value(t, "drover_migration_downtime_seconds_sum", { strategy })).toBeCloseTo(0.005);
    expect(value(t, "drover_migration_downtime_seconds_bucket", { le: "0.005", strategy })).toBe(1);
    expect(value(t, "drover_migration_prediction_error_ratio_count", { quantity: "duration" })).toBe(1);
    expect(value(t, "drover_migration_prediction_error_ratio_sum", { quantity: "duration" })).toBeCloseTo(
      (50 - row.predictedDurationMs!) / row.predictedDurationMs!,
    );
    expect(value(t, "drover_preflight_failures_total", { check: "shared-storage" })).toBe(1);
    expect(() => value(t, "drover_preflight_failures_total", { check: "vm-present" })).toThrow(/found 0/);
  });
});
