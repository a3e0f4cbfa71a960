import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { ApiMaintenance } from "@drover/protocol";
import { windowAt } from "../src/window.js";
import { WindowConfig } from "../src/config.js";
import { harness, json, post, get } from "./harness.js";
import { uuid } from "./helpers.js";

const at = (hhmm: string, day = "2026-11-26") => Date.parse(`${day}T${hhmm}:00Z`);

describe("windows", () => {
  it("opens and closes across midnight on the configured days, with a restore phase before the end", () => {
    const w = WindowConfig.parse({ start: "22:00", end: "06:00", days: "mon-fri", restoreBeforeEndMs: 1_800_000 });
    // 2026-11-26 is a Thursday.
    expect(windowAt(w, at("21:59")).active).toBe(false);
    expect(windowAt(w, at("22:00"))).toMatchObject({ active: true, restoring: false, openedMs: at("22:00") });
    expect(windowAt(w, at("03:00", "2026-11-27"))).toMatchObject({ active: true, restoring: false });
    expect(windowAt(w, at("05:30", "2026-11-27"))).toMatchObject({ active: true, restoring: true, closesMs: at("06:00", "2026-11-27") });
    expect(windowAt(w, at("06:00", "2026-11-27")).active).toBe(false);
    // Saturday night is not a window day; the Friday-night window still runs into Saturday.
    expect(windowAt(w, at("23:00", "2026-11-28")).active).toBe(false);
    expect(windowAt(w, at("02:00", "2026-11-28")).active).toBe(true);
  });
});

describe("modes and schedules", () => {
  it("consolidates only inside the window (injected clock), powers emptied hosts off, and wakes them before it ends", async () => {
    const udp = createSocket("udp4");
    const packets: Buffer[] = [];
    udp.on("message", (m) => packets.push(m));
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    const port = udp.address().port;
    const power = (n: number) => ({
      power: { wake: "wol" as const, mac: `02:00:00:00:00:0${n}`, address: "127.0.0.1", port, wakeTimeoutMs: 600_000 },
    });
    try {
      await using h = await harness(
        ["a", "b", "c"],
        { a: [{ uuid: uuid(1), name: "v1" }], b: [{ uuid: uuid(2), name: "v2" }], c: [{ uuid: uuid(3), name: "v3" }] },
        {
          policies: {
            balance: { mode: "off" },
            consolidate: { mode: "automatic", window: { start: "22:00", end: "06:00", restoreBeforeEndMs: 1_800_000 } },
            drain: { mode: "automatic" },
          },
          hosts: { a: power(1), b: power(2), c: power(3) },
        },
      );
      h.clock.set(at("12:00"));
      h.autoReport(50);
      await h.report();
      await h.s.tick();
      expect(h.s.store.plans.list()).toEqual([]);

      h.clock.set(at("23:00"));
      await h.report();
      await h.s.tick();
      const plans = h.s.store.plans.list();
      expect(plans).toHaveLength(1);
      expect(plans[0]).toMatchObject({ kind: "consolidate", mode: "automatic", requestedBy: "schedule:consolidate" });
      const offs = plans[0]!.steps.filter((s) => s.action === "power-off").map((s) => s.host);
      expect(offs.length).toBe(2);
      // Each power-off waits until the reports show its host's moves; the scheduler's tick retries it.
      await expect
        .poll(
          () => {
            h.s.planner.tick();
            return h.agents.count("power-off");
          },
          { timeout: 15_000, interval: 20, message: "two power-offs sent" },
        )
        .toBe(2);
      expect(new Set([...h.agents.vms.values()].map((v) => v.host)).size).toBe(1);
      // The powered-off hosts stop reporting and become standby; only then is the plan done.
      expect(h.s.store.plans.get(plans[0]!.id)!.status).toBe("applying");
      await expect
        .poll(() => offs.filter((x) => h.agents.up.has(x!)), { timeout: 15_000, interval: 20, message: "agents down" })
        .toEqual([]);
      h.clock.advance(4000);
      await h.report();
      await h.s.tick();
      await expect
        .poll(() => h.s.store.plans.get(plans[0]!.id)!.status, { timeout: 15_000, interval: 20, message: "consolidation plan done" })
        .toBe("done");
      for (const host of offs) expect(h.s.state.stateOf(h.s.state.hosts.get(host!)!, h.clock.now())).toBe("standby");

      // 05:40: inside the last 30 minutes, capacity is restored: both standby hosts are woken.
      h.clock.set(at("05:40", "2026-11-27"));
      await h.report();
      await h.s.tick();
      await expect.poll(() => packets.length, { timeout: 15_000, interval: 20, message: "two magic packets" }).toBe(2);
      for (const host of offs) expect(h.s.state.hosts.get(host!)!.mode).toBe("waking");
      for (const host of offs) h.agents.revive(host!);
      await h.report();
      for (const host of offs) expect(h.s.state.stateOf(h.s.state.hosts.get(host!)!, h.clock.now())).toBe("healthy");
      // Still inside the window but restoring: no new consolidation.
      await h.s.tick();
      expect(h.s.store.plans.list().filter((p) => p.kind === "consolidate")).toHaveLength(1);
    } finally {
      udp.close();
    }
  });

  it("plans again as soon as a host it woke reports healthy, not a whole round later", async () => {
    const udp = createSocket("udp4");
    const packets: Buffer[] = [];
    udp.on("message", (m) => packets.push(m));
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    const power = (n: number) => ({
      power: { wake: "wol" as const, mac: `02:00:00:00:00:0${n}`, address: "127.0.0.1", port: udp.address().port, wakeTimeoutMs: 600_000 },
    });
    try {
      await using h = await harness(
        ["a", "b"],
        { a: [1, 2, 3].map((n) => ({ uuid: uuid(n), name: `v${n}`, cpu: 0.1 })) },
        {
          policies: {
            balance: { mode: "off" },
            consolidate: { mode: "automatic", window: { start: "22:00", end: "06:00" } },
            drain: { mode: "automatic" },
          },
          hosts: { a: power(1), b: power(2) },
        },
      );
      const everyMs = h.s.config.policies.consolidate.everyMs;
      h.clock.set(at("23:00"));
      await h.report();
      await h.s.tick();
      const [off] = h.s.store.plans.list();
      expect(off!.steps.map((s) => [s.action, s.host])).toEqual([["power-off", "b"]]);
      // The fake agent goes down 10 ms after it accepts: a report sent before then keeps b reachable.
      await expect
        .poll(() => h.agents.count("power-off") === 1 && !h.agents.up.has("b"), { timeout: 15_000, interval: 20, message: "b powered off" })
        .toBe(true);
      h.clock.advance(4000);
      await h.report();
      await h.s.tick();
      expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("standby");

      // A whole round later a's VMs need more than a has under the band: the round wakes b.
      for (const v of h.agents.on("a")) h.agents.place("a", { ...v, cpu: 2.5 });
      h.clock.advance(everyMs);
      await h.report();
      await h.s.tick();
      await expect.poll(() => packets.length, { timeout: 15_000, interval: 20, message: "b's magic packet" }).toBe(1);
      const plans = h.s.store.plans.list().length;

      // b is up 30 s later: the next plan moves load onto it at once, though `everyMs` has not passed.
      h.clock.advance(30_000);
      h.agents.revive("b");
      await h.report();
      expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("healthy");
      await h.s.tick();
      const newer = h.s.store.plans.list().slice(0, h.s.store.plans.list().length - plans);
      expect(newer).toHaveLength(1);
      expect(newer[0]).toMatchObject({ kind: "consolidate", requestedBy: "schedule:consolidate" });
      expect(newer[0]!.steps.filter((s) => s.action === "migrate").map((s) => s.destination)).toContain("b");
    } finally {
      udp.close();
    }
  });

  it("recommend mode stores the plan and waits for approval", async () => {
    await using h = await harness(
      ["a", "b"],
      { a: [{ uuid: uuid(1), name: "v1" }] },
      {
        policies: {
          balance: { mode: "off" },
          consolidate: { mode: "recommend", window: { start: "00:00", end: "23:59" } },
          drain: { mode: "automatic" },
        },
        hosts: {
          a: { power: { wake: "wol", mac: "02:00:00:00:00:01", address: "127.0.0.1" } },
          b: { power: { wake: "wol", mac: "02:00:00:00:00:02", address: "127.0.0.1" } },
        },
      },
    );
    h.clock.set(at("12:00"));
    await h.report();
    await h.s.tick();
    const [p] = h.s.store.plans.list();
    expect(p).toMatchObject({ kind: "consolidate", status: "proposed", mode: "recommend" });
    await new Promise((r) => setTimeout(r, 200));
    expect(h.agents.count("migrate")).toBe(0);
    expect(p!.steps.map((s) => [s.action, s.host])).toEqual([["power-off", "b"]]);
    await post(h.url(`/v1/plans/${p!.id}/approve`));
    await expect.poll(() => h.agents.count("power-off"), { timeout: 15_000, interval: 20, message: "approved plan runs" }).toBe(1);
  });
});

describe("maintenance", () => {
  it("drains a host with progress to maintenance, then undrains it", async () => {
    await using h = await harness(["a", "b", "c"], {
      a: [
        { uuid: uuid(1), name: "v1" },
        { uuid: uuid(2), name: "v2" },
      ],
    });
    h.autoReport(50);
    await h.report();
    const res = await post(h.url("/v1/hosts/a/drain"), {});
    expect(res.status).toBe(202);
    const m = ApiMaintenance.parse(await json(res));
    expect(m).toMatchObject({ host: "a", state: "draining", vmsAtStart: 2 });
    await expect.poll(() => h.agents.on("a").length, { timeout: 15_000, interval: 20, message: "a empty" }).toBe(0);
    await expect
      .poll(
        async () => {
          await h.s.tick();
          return ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`)))).state;
        },
        { timeout: 15_000, interval: 20, message: "in maintenance" },
      )
      .toBe("in-maintenance");
    const done = ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`))));
    expect(done.migrations).toHaveLength(2);
    expect(done.vmsLeft).toBe(0);
    expect(h.s.state.stateOf(h.s.state.hosts.get("a")!, h.clock.now())).toBe("maintenance");
    // A host in maintenance is no destination.
    expect(() => h.s.dispatcher.submit({ vm: "v1", destination: "a", requestedBy: "t", reason: "t" })).toThrow(/maintenance/);
    const back = ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/a/undrain"))));
    expect(back.state).toBe("ended");
    expect(h.s.state.stateOf(h.s.state.hosts.get("a")!, h.clock.now())).toBe("healthy");
  });

  it("stops a drain that cannot finish with each VM's blocking reason", async () => {
    await using h = await harness(["a", "b"], {
      a: [
        { uuid: uuid(1), name: "pinned1", tags: ["drover:pinned"] },
        { uuid: uuid(2), name: "free1" },
      ],
    });
    h.autoReport(50);
    await h.report();
    const m = ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/a/drain"), { powerOff: true })));
    await expect
      .poll(
        async () => {
          await h.s.tick();
          return ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`)))).state;
        },
        { timeout: 15_000, interval: 20, message: "blocked" },
      )
      .toBe("blocked");
    const b = ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`))));
    expect(b.blockers).toEqual([expect.objectContaining({ vm: "pinned1", code: "vm.pinned" })]);
    expect(b.vmsLeft).toBe(1);
    expect(h.agents.on("a").map((v) => v.name)).toEqual(["pinned1"]);
    expect(h.agents.count("power-off")).toBe(0);
  });

  it("blocks a drain whose only destination stopped reporting, naming it, and resumes when it reports again", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v1" }] });
    await h.report();
    // b's agent is gone: its reports stop (the clock passes the unreachable threshold).
    h.clock.advance(h.s.state.staleAfterMs + 1);
    await h.report(["a"]);
    expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("unreachable");
    const m = ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/a/drain"), {})));
    const view = async () => ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`))));
    const blocked = await view();
    expect(blocked.state).toBe("blocked");
    expect(blocked.message).toBe("blocked: 1 VM(s) cannot leave a (not reporting, so no destination: b)");
    expect(blocked.blockers).toEqual([expect.objectContaining({ vm: "v1", reason: expect.stringMatching(/no destination: b\)$/) })]);
    expect(h.s.store.migrations.list({}).filter((x) => x.destination === "b")).toEqual([]);

    // b reports again: the drain replans and moves v1 there.
    h.clock.advance(10_001);
    await h.report();
    await h.s.tick();
    expect((await view()).state).toBe("draining");
    expect(h.s.store.migrations.list({}).map((x) => [x.vmName, x.destination])).toEqual([["v1", "b"]]);
    await expect
      .poll(() => h.s.store.migrations.list({})[0]?.status, { timeout: 15_000, interval: 20, message: "v1 moved" })
      .toBe("succeeded");
  });
});
