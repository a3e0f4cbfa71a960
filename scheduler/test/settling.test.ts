// Planning between a move's end and the reports that show it: the planner must see the move
// (in flight, then landed) rather than the picture from before it.
import { describe, expect, it } from "vitest";
import { HostReport, subjects } from "@drover/protocol";
import { harness, type Harness } from "./harness.js";
import { CLUSTER, report, uuid, type VmSpec } from "./helpers.js";

const CPUS = 2;
const MHZ = 2000;

/** A report as a real agent would send it: host CPU is the sum of its VMs' (2 cores of 2000 MHz). */
function publish(h: Harness, host: string, vms: VmSpec[], timeMs: number): void {
  const used = vms.reduce((s, v) => s + (v.cpu ?? 0.1), 0);
  h.agents.bus.publish(
    subjects.hostReport(CLUSTER, host),
    HostReport,
    report(host, vms, timeMs, {
      capacity: { cpus: CPUS, mhz: MHZ, memoryMiB: 32768, cpuModel: "qemu64" },
      usage: {
        cpuFraction: Math.min(1, used / CPUS),
        memoryUsedMiB: 2048,
        memoryAvailableMiB: 30000,
        load1: used,
        load5: used,
        load15: used,
        pressure: null,
      },
    }),
  );
}

/** Every up host reports what the fake agents hold now; waits until the scheduler ingested them. */
async function reportTruth(h: Harness, hosts = [...h.agents.up]): Promise<void> {
  const before = h.s.state.counters.reports;
  for (const host of hosts) publish(h, host, h.agents.on(host), h.clock.now());
  await h.agents.bus.flush();
  await expect
    .poll(() => h.s.state.counters.reports >= before + hosts.length, { timeout: 15_000, interval: 20, message: "reports ingested" })
    .toBe(true);
}

const busy = (n: number, name: string): VmSpec => ({ uuid: uuid(n), name, cpu: 0.9 });

function balanceMoves(h: Harness): { vm: string; from: string; to: string }[] {
  const p = h.s.planner.make("balance", { requestedBy: "test", mode: "automatic" });
  return p.steps.filter((s) => s.action === "migrate").map((s) => ({ vm: s.vmUuid!, from: s.source!, to: s.destination! }));
}

describe("planning around moves the reports do not show yet", () => {
  it("two balance rounds before any report that shows the first move neither stack nor move back", async () => {
    await using h = await harness(["a", "b", "c"], {
      a: [busy(1, "v1"), busy(2, "v2")],
      b: [busy(3, "v3")],
      c: [{ uuid: uuid(4), name: "v4", cpu: 0.05 }],
    });
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1000);
      await reportTruth(h);
    }
    h.agents.behaviour = { migrate: "hold", preflightOk: true };

    const first = balanceMoves(h);
    expect(first).toHaveLength(1);
    const move = first[0]!;
    expect(move).toMatchObject({ from: "a", to: "c" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "first move running" }).toBe(true);

    // Round 2 while the move runs: it is in flight, its VM counts on c already.
    h.clock.advance(1000);
    expect(balanceMoves(h)).toEqual([]);

    h.agents.releaseAll(true);
    await expect
      .poll(() => h.s.store.migrations.list({ limit: 10 }).some((m) => m.status === "succeeded"), {
        timeout: 15_000,
        interval: 20,
        message: "first move done",
      })
      .toBe(true);
    // a's report sampled just before the move ended arrives after its result: it still lists the VM.
    h.clock.advance(200);
    const before = h.s.state.counters.reports;
    publish(h, "a", [busy(1, "v1"), busy(2, "v2")], h.clock.now());
    await expect
      .poll(() => h.s.state.counters.reports > before, { timeout: 15_000, interval: 20, message: "stale report ingested" })
      .toBe(true);
    expect(h.s.dispatcher.inFlightForPolicy().map((m) => m.vmId)).toEqual([move.vm]);

    // Round 3 before any report shows the move: no second busy VM onto c, nothing back to a.
    h.clock.advance(1000);
    const third = balanceMoves(h);
    expect(third.filter((m) => m.to === "c")).toEqual([]);
    expect(third.filter((m) => m.vm === move.vm)).toEqual([]);
    expect(third).toEqual([]);

    // Once both hosts report the move, nothing is held any more and the cluster stays as it is.
    h.clock.advance(1000);
    await reportTruth(h);
    expect(h.s.dispatcher.inFlightForPolicy()).toEqual([]);
    expect(h.s.state.vm(move.vm)!.host).toBe("c");
    expect(balanceMoves(h)).toEqual([]);
    const busyOn = (host: string) => h.agents.on(host).filter((v) => (v.cpu ?? 0) > 0.5).length;
    expect([busyOn("a"), busyOn("b"), busyOn("c")]).toEqual([1, 1, 1]);
  });

  it("a drain whose last move ended is still draining until the host reports no VM, never blocked", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v1" }] });
    await reportTruth(h);
    const m = h.s.maintenance.drain("a", false, "test");
    await expect
      .poll(() => h.s.store.migrations.list({ limit: 10 }).some((r) => r.status === "succeeded"), {
        timeout: 15_000,
        interval: 20,
        message: "drain move done",
      })
      .toBe(true);
    const stillDraining = async () => {
      for (let i = 0; i < 3; i++) {
        h.clock.advance(300);
        await h.s.tick();
        const api = h.s.maintenance.toApi(h.s.maintenance.get(m.id));
        expect(api.state, api.message).toBe("draining");
        expect(api.blockers).toEqual([]);
      }
    };
    // No report since the move ended: a's last one still lists v1.
    await stillDraining();
    // a's report sampled before the move ended arrives after its result: it still lists v1.
    const before = h.s.state.counters.reports;
    publish(h, "a", [{ uuid: uuid(1), name: "v1" }], h.clock.now());
    await expect
      .poll(() => h.s.state.counters.reports > before, { timeout: 15_000, interval: 20, message: "stale report ingested" })
      .toBe(true);
    await stillDraining();
    expect(h.agents.count("migrate")).toBe(1);
    h.clock.advance(500);
    await reportTruth(h);
    await h.s.tick();
    expect(h.s.maintenance.toApi(h.s.maintenance.get(m.id)).state).toBe("in-maintenance");
  });
});

describe("predictions", () => {
  it("an operator's move carries the cost model's prediction; concurrent moves on the same host say so and are predicted slower", async () => {
    await using h = await harness(["a", "b", "c"], {
      a: [
        { uuid: uuid(1), name: "v1" },
        { uuid: uuid(2), name: "v2" },
      ],
    });
    h.agents.behaviour = { migrate: "hold", preflightOk: true };
    await h.report();
    const one = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "api", reason: "operator request" });
    expect(one.predictedDurationMs).toBeGreaterThan(0);
    expect(one.predictedDowntimeMs).not.toBeNull();
    expect(one.strategy).toBe("live");
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "first running" }).toBe(true);
    const two = h.s.dispatcher.submit({ vm: "v2", destination: "c", requestedBy: "api", reason: "operator request" });
    expect(two.predictedDurationMs).toBe(one.predictedDurationMs);
    await expect.poll(() => h.agents.held.size === 2, { timeout: 15_000, interval: 20, message: "second running" }).toBe(true);
    const shared = h.s.store.migrations.get(two.id)!;
    expect(shared).toMatchObject({ strategy: "live", concurrent: 2 });
    expect(shared.predictedDurationMs!).toBeGreaterThan(one.predictedDurationMs!);
    expect(h.s.store.migrations.get(one.id)).toMatchObject({ strategy: "live", concurrent: 1 });
    h.agents.releaseAll(true);
    await expect.poll(() => h.s.dispatcher.inFlightCount === 0, { timeout: 15_000, interval: 20, message: "both done" }).toBe(true);
  });

  it("learns only from moves that ran alone on their hosts", async () => {
    await using h = await harness(["a", "b", "c"], {
      a: [
        { uuid: uuid(1), name: "v1" },
        { uuid: uuid(2), name: "v2" },
      ],
    });
    // Two clean samples fit the model (minSamples 2 by default).
    h.agents.behaviour = { migrate: "hold", preflightOk: true, measured: { durationMs: 30_000, downtimeMs: 400 } };
    await h.report();
    const alone = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "api", reason: "operator request" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "first running" }).toBe(true);
    const shared = h.s.dispatcher.submit({ vm: "v2", destination: "c", requestedBy: "api", reason: "operator request" });
    await expect.poll(() => h.agents.held.size === 2, { timeout: 15_000, interval: 20, message: "second running" }).toBe(true);
    h.agents.releaseAll(true);
    await expect.poll(() => h.s.dispatcher.inFlightCount === 0, { timeout: 15_000, interval: 20, message: "both done" }).toBe(true);
    expect([alone, shared].map((m) => h.s.store.migrations.get(m.id))).toMatchObject([
      { status: "succeeded", completedBy: "live", concurrent: 1 },
      { status: "succeeded", completedBy: "live", concurrent: 2 },
    ]);
    // One clean sample so far: the shared move was not counted.
    expect(h.s.dispatcher.learnedModel).toBeUndefined();
    const second = h.s.dispatcher.submit({ vm: "v1", destination: "a", requestedBy: "api", reason: "operator request" });
    await expect.poll(() => h.agents.held.size === 1, { timeout: 15_000, interval: 20, message: "third running" }).toBe(true);
    h.agents.releaseAll(true);
    await expect.poll(() => h.s.dispatcher.inFlightCount === 0, { timeout: 15_000, interval: 20, message: "third done" }).toBe(true);
    expect(h.s.store.migrations.get(second.id)).toMatchObject({ status: "succeeded", concurrent: 1 });
    expect(h.s.dispatcher.learnedModel).toBeDefined();
  });

  it("learns the cost model's constants from this cluster's measured migrations", async () => {
    await using h = await harness(["a", "b"], { a: [1, 2, 3, 4].map((i) => ({ uuid: uuid(i), name: `v${i}` })) });
    // The lab's guests on a busy machine: every move measured at 30 s with 400 ms downtime.
    h.agents.behaviour = { migrate: "succeed", durationMs: 20, preflightOk: true, measured: { durationMs: 30_000, downtimeMs: 400 } };
    await h.report();
    const first = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "api", reason: "operator request" });
    expect(Math.abs(first.predictedDurationMs! - 30_000) / 30_000).toBeGreaterThan(0.3);
    expect(h.s.dispatcher.learnedModel).toBeUndefined();
    for (const vm of ["v1", "v2"]) {
      if (vm !== "v1") h.s.dispatcher.submit({ vm, destination: "b", requestedBy: "api", reason: "operator request" });
      await expect.poll(() => h.s.dispatcher.inFlightCount === 0, { timeout: 15_000, interval: 20, message: `${vm} done` }).toBe(true);
    }
    expect(h.s.dispatcher.learnedModel).toBeDefined();
    const next = h.s.dispatcher.submit({ vm: "v3", destination: "b", requestedBy: "api", reason: "operator request" });
    expect(Math.abs(next.predictedDurationMs! - 30_000) / 30_000).toBeLessThan(0.05);
    expect(Math.abs(next.predictedDowntimeMs! - 400) / 400).toBeLessThan(0.3);
    // The planner's snapshot carries the same constants, so plans are costed alike.
    const plan = h.s.planner.compute("drain", "a");
    const move = plan.steps.find((s) => s.kind === "migrate");
    expect(move && move.kind === "migrate" ? Math.abs(move.prediction.durationMs - 30_000) / 30_000 : 1).toBeLessThan(0.05);
    await expect.poll(() => h.s.dispatcher.inFlightCount === 0, { timeout: 15_000, interval: 20, message: "v3 done" }).toBe(true);
  });
});
