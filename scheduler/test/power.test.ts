import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiError, ApiMaintenance, ApiPowerAction, HostsResponse } from "@drover/protocol";
import { WAKE_RETRY_BACKOFF } from "../src/power/power-manager.js";
import { IpmiDriver } from "../src/power/wake-drivers.js";
import { get, harness, json, post, type Harness } from "./harness.js";
import { tempDir, udpListener, uuid } from "./helpers.js";

const MAC = "02:00:00:00:00:0b";
const MAC_C = "02:00:00:00:00:0c";

/** Host b wakes by WoL to the test's UDP listener. */
const wolB = (port: number) => ({
  hosts: { b: { power: { wake: "wol" as const, mac: MAC, address: "127.0.0.1", port, wakeTimeoutMs: 60_000 } } },
});

/** Waits for b's power-off (asked by the caller), lets its reports stop, and returns b's state as the scheduler judges it, now standby. */
async function offToStandby(h: Harness): Promise<() => string> {
  await expect
    .poll(
      async () => {
        await h.s.tick();
        return h.agents.count("power-off") === 1 && !h.agents.up.has("b");
      },
      { timeout: 15_000, interval: 20, message: "power-off sent" },
    )
    .toBe(true);
  h.clock.advance(3001);
  await h.report(["a"]);
  await h.s.tick();
  const state = () => h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now());
  expect(state()).toBe("standby");
  return state;
}

describe("power", () => {
  it("refuses to power off a host that runs a VM, records the refusal and sends nothing", async () => {
    await using h = await harness(
      ["a", "b"],
      { a: [{ uuid: uuid(1), name: "web1" }] },
      {
        hosts: {
          a: { power: { wake: "wol", mac: MAC, address: "127.0.0.1" } },
          b: { power: { wake: "wol", mac: MAC, address: "127.0.0.1" } },
        },
      },
    );
    await h.report();
    const res = await post(h.url("/v1/hosts/a/power"), { action: "off" });
    expect(res.status).toBe(409);
    const body = ApiError.parse(await json(res));
    expect(body.error.code).toBe("refused.vms-present");
    expect(body.error.message).toMatch(/runs 1 VM/);
    expect(h.agents.count("power-off")).toBe(0);
    const rows = h.s.store.power.list();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ host: "a", action: "power-off", status: "cancelled" });
    // The last healthy host is refused too, even when empty.
    h.agents.up.delete("a");
    h.clock.advance(3001);
    await h.report(["b"]);
    const last = await post(h.url("/v1/hosts/b/power"), { action: "off" });
    expect(last.status).toBe(409);
    expect(ApiError.parse(await json(last)).error.code).toBe("refused.last-healthy-host");
  });

  // The power manager used to judge a power-off by the last CPU sample of the hosts left (no
  // forecast, no memory): it accepted power-offs consolidate would not plan. Both now ask the
  // policy's powerOffBlockers; these clusters are where the old checks disagreed.
  const wol = { power: { wake: "wol" as const, mac: MAC, address: "127.0.0.1" } };

  it("refuses a power-off the spare needs by forecast CPU although the last sample is idle, as consolidate does", async () => {
    // Six VMs on a use one vCPU each (12000 of 16000 MHz), then go idle for the latest report.
    const busy = Array.from({ length: 6 }, (_, i) => ({ uuid: uuid(i + 1), name: `busy${i}`, cpu: 1 }));
    await using h = await harness(["a", "b"], { a: busy }, { hosts: { a: wol, b: wol }, spare: { hosts: 0, cpuFraction: 0.5 } });
    for (let i = 0; i < 3; i++) {
      await h.report();
      h.clock.advance(1000);
    }
    for (const v of busy) h.agents.vms.get(v.uuid)!.cpu = 0;
    await h.report();
    expect(h.s.planner.compute("consolidate").steps.filter((s) => s.kind === "power-off")).toEqual([]);
    const res = await post(h.url("/v1/hosts/b/power"), { action: "off" });
    expect(res.status).toBe(409);
    const body = ApiError.parse(await json(res));
    expect(body.error.code).toBe("refused.spare-capacity");
    expect(body.error.message).toMatch(/without b free CPU would be 4000 MHz, below the spare 6000 MHz/);
    expect(h.agents.count("power-off")).toBe(0);
  });

  it("refuses a power-off the spare needs by memory while every CPU is idle, as consolidate does", async () => {
    const big = (n: number) => ({ uuid: uuid(n), name: `big${n}`, cpu: 0, memoryMiB: 30_000 });
    await using h = await harness(
      ["a", "b", "c"],
      { a: [big(1)], b: [big(2)] },
      { hosts: { a: wol, b: wol, c: wol }, spare: { hosts: 1 } },
    );
    await h.report();
    expect(h.s.planner.compute("consolidate").steps.filter((s) => s.kind === "power-off")).toEqual([]);
    const res = await post(h.url("/v1/hosts/c/power"), { action: "off" });
    expect(res.status).toBe(409);
    const body = ApiError.parse(await json(res));
    expect(body.error.code).toBe("refused.spare-capacity");
    expect(body.error.message).toMatch(/without c free memory would be 5536 MiB, below the spare 32768 MiB/);
    expect(h.agents.count("power-off")).toBe(0);
  });

  it("accepts at run time the power-off consolidate plans, and refuses the host it keeps for the same reason", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] }, { hosts: { a: wol, b: wol } });
    await h.report();
    const plan = h.s.planner.compute("consolidate");
    const offs = plan.steps.filter((s) => s.kind === "power-off");
    expect(offs.map((s) => s.hostId)).toEqual(["b"]);
    expect(h.s.power.powerOffBlocker("b")).toBeNull();
    // a stays on, for the rule's reason once b is off; today the power manager refuses it for web1.
    expect(plan.notMoved).toContainEqual(
      expect.objectContaining({ vmId: uuid(1), message: expect.stringMatching(/^a stays on: a is the last healthy host; /) }),
    );
    expect(h.s.power.powerOffBlocker("a")).toEqual({ code: "refused.vms-present", message: "a runs 1 VM(s); drain it first" });
  });

  it("says which setting keeps a host on when the policy sees canPowerOff false", async () => {
    await using h = await harness(["a", "b", "c"], {}, { hosts: { b: { power: { ...wol.power, allowPowerOff: false } }, c: wol } });
    await h.report();
    expect(h.s.power.powerOffBlocker("a")).toEqual({
      code: "refused.no-wake-method",
      message: "a has no wake method configured (hosts.a.power.wake), so Drover will not power it off",
    });
    expect(h.s.power.powerOffBlocker("b")).toEqual({ code: "refused.no-wake-method", message: "hosts.b.power.allowPowerOff is false" });
    expect(h.s.power.powerOffBlocker("c")).toBeNull();
  });

  it("powers an empty host off through its agent; a WoL wake is done only once the host reports healthy", async () => {
    const udp = await udpListener();
    try {
      await using h = await harness(
        ["a", "b"],
        { a: [{ uuid: uuid(1), name: "web1" }] },
        {
          hosts: { b: { power: { wake: "wol", mac: MAC, address: "127.0.0.1", port: udp.port, wakeTimeoutMs: 60_000 } } },
        },
      );
      await h.report();
      const off = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/b/power"), { action: "off" })));
      expect(off.state).toBe("pending");
      await expect
        .poll(() => h.agents.count("power-off") === 1 && !h.agents.up.has("b"), {
          timeout: 15_000,
          interval: 20,
          message: "power-off sent",
        })
        .toBe(true);
      h.clock.advance(3001);
      await h.report(["a"]);
      await h.s.tick();
      expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("standby");
      expect(h.s.store.power.get(off.id)!.status).toBe("succeeded");

      const on = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/b/power"), { action: "on" })));
      await expect.poll(() => udp.packets.length === 1, { timeout: 15_000, interval: 20, message: "magic packet" }).toBe(true);
      const p = udp.packets[0]!;
      expect(p.length).toBe(102);
      expect(p.subarray(0, 6).equals(Buffer.alloc(6, 0xff))).toBe(true);
      expect(p.subarray(6, 12).toString("hex")).toBe("02000000000b");
      // Sent is not done: the host has not reported yet.
      await h.s.tick();
      expect(h.s.store.power.get(on.id)!.status).toBe("sent");
      expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("waking");
      h.agents.revive("b");
      await h.report(["b"]);
      expect(h.s.store.power.get(on.id)!.status).toBe("succeeded");
      expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("healthy");
    } finally {
      udp.sock.close();
    }
  });

  it("a host drained and powered off for maintenance: no plan wakes it; an operator's wake brings it back in maintenance, taking no VM until undrained", async () => {
    const udp = await udpListener();
    try {
      await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] }, wolB(udp.port));
      await h.report();
      const m = ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/b/drain"), { powerOff: true })));
      const state = await offToStandby(h);
      expect(ApiMaintenance.parse(await json(await get(h.url(`/v1/maintenance/${m.id}`)))).state).toBe("powered-off");

      // Plans neither see it as wakeable nor may wake it.
      expect(h.s.power.planningSnapshot().hosts.find((x) => x.id === "b")?.power.canWake).toBe(false);
      expect(() => h.s.power.requestWake("b", "plan:test", "capacity")).toThrow(/under maintenance/);
      expect(udp.packets).toHaveLength(0);

      // The operator powers it on (to work on it): it comes back in maintenance, no destination.
      await post(h.url("/v1/hosts/b/power"), { action: "on" });
      await expect.poll(() => udp.packets.length, { timeout: 15_000, interval: 20, message: "magic packet" }).toBe(1);
      h.agents.revive("b");
      await h.report(["b"]);
      expect(state()).toBe("maintenance");
      expect(() => h.s.dispatcher.submit({ vm: "web1", destination: "b", requestedBy: "t", reason: "t" })).toThrow(
        "destination b is in maintenance",
      );
      // Until undrained.
      expect(ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/b/undrain")))).state).toBe("ended");
      expect(state()).toBe("healthy");
    } finally {
      udp.sock.close();
    }
  });

  it("a host already in standby can be drained: its maintenance begins at once and keeps it off; undrain wakes it", async () => {
    const udp = await udpListener();
    try {
      await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] }, wolB(udp.port));
      await h.report();
      await post(h.url("/v1/hosts/b/power"), { action: "off" });
      const state = await offToStandby(h);

      const m = ApiMaintenance.parse(await json(await post(h.url("/v1/hosts/b/drain"), { powerOff: true })));
      expect([m.state, m.message]).toEqual(["powered-off", "powered off: host in maintenance"]);
      expect(state()).toBe("standby");
      expect(h.s.power.planningSnapshot().hosts.find((x) => x.id === "b")?.power.canWake).toBe(false);
      expect(h.agents.count("power-off")).toBe(1);

      await post(h.url("/v1/hosts/b/undrain"));
      await expect.poll(() => udp.packets.length, { timeout: 15_000, interval: 20, message: "magic packet" }).toBe(1);
      h.agents.revive("b");
      await h.report(["b"]);
      expect(state()).toBe("healthy");
    } finally {
      udp.sock.close();
    }
  });

  it("IPMI wake through ipmitool (a fake executable on PATH); a failed wake marks the host and wakes another", async () => {
    await using dir = await tempDir();
    const log = join(dir.path, "ipmitool.log");
    const fake = join(dir.path, "ipmitool");
    // Succeeds for the BMC 127.0.0.21, fails (as a dead BMC does) for any other.
    await writeFile(
      fake,
      `#!/bin/sh\necho "$@" >> ${log}\ncase "$*" in *"-H 127.0.0.21 "*) exit 0;; esac\necho "Error: Unable to establish IPMI v2 / RMCP+ session" >&2\nexit 1\n`,
    );
    await chmod(fake, 0o755);
    const env = { ...process.env, PATH: `${dir.path}:${process.env.PATH ?? ""}`, BMC_PASS: "s3cret" };
    const ipmi = (addr: string) => ({
      wake: "ipmi" as const,
      address: addr,
      ipmi: { user: "admin", passwordEnv: "BMC_PASS" },
      wakeTimeoutMs: 5000,
    });
    await using h = await harness(
      ["a", "b", "c"],
      {},
      { hosts: { b: { power: ipmi("127.0.0.22") }, c: { power: ipmi("127.0.0.21") } } },
      { wakeDrivers: { ipmi: new IpmiDriver(env) } },
    );
    await h.report();
    for (const host of ["b", "c"]) {
      await post(h.url(`/v1/hosts/${host}/power`), { action: "off" });
      await expect.poll(() => !h.agents.up.has(host), { timeout: 15_000, interval: 20, message: `${host} off` }).toBe(true);
    }
    h.clock.advance(3001);
    await h.report(["a"]);
    await h.s.tick();
    // A wake for capacity (as a plan step does): b's BMC fails, so c is woken instead.
    const woke = h.s.power.wake("b", "schedule:consolidate", "capacity");
    const r = await woke;
    expect(r.ok).toBe(false);
    expect(h.s.state.hosts.get("b")!.wakeFailed).toBe(true);
    expect(h.s.store.power.list({ host: "b" })[0]).toMatchObject({ action: "wake", status: "failed" });
    expect(h.s.store.power.list({ host: "b" })[0]!.error?.message).toMatch(/Unable to establish IPMI/);
    await expect
      .poll(async () => (await readFile(log, "utf8").catch(() => "")).includes("127.0.0.21"), {
        timeout: 15_000,
        interval: 20,
        message: "c woken",
      })
      .toBe(true);
    const lines = (await readFile(log, "utf8")).trim().split("\n");
    expect(lines).toEqual([
      "-I lanplus -H 127.0.0.22 -U admin -E chassis power on",
      "-I lanplus -H 127.0.0.21 -U admin -E chassis power on",
    ]);
    const cWake = h.s.store.power.list({ host: "c" })[0]!;
    expect(cWake.action).toBe("wake");
    await expect
      .poll(() => h.s.store.power.get(cWake.id)!.status === "sent", { timeout: 15_000, interval: 20, message: "c sent" })
      .toBe(true);
    // Done only when c reports healthy.
    h.agents.revive("c");
    await h.report(["a", "c"]);
    expect(h.s.store.power.get(cWake.id)!.status).toBe("succeeded");
  });

  it("a WoL wake that did nothing (the host never reports) fails at the deadline, wakes another host, and is retried only after a back-off", async () => {
    const udp = await udpListener();
    try {
      const wol = (mac: string) => ({ wake: "wol" as const, mac, address: "127.0.0.1", port: udp.port, wakeTimeoutMs: 5000 });
      await using h = await harness(["a", "b", "c"], {}, { hosts: { b: { power: wol(MAC) }, c: { power: wol(MAC_C) } } });
      await h.report();
      for (const host of ["b", "c"]) {
        await post(h.url(`/v1/hosts/${host}/power`), { action: "off" });
        await expect.poll(() => !h.agents.up.has(host), { timeout: 15_000, interval: 20, message: `${host} off` }).toBe(true);
      }
      h.clock.advance(3001);
      await h.report(["a"]);
      await h.s.tick();

      // A wake for capacity (as a plan step does).
      const woke = h.s.power.wake("b", "schedule:consolidate", "capacity");
      await expect.poll(() => udp.packets.length, { timeout: 15_000, interval: 20, message: "magic packet" }).toBe(1);
      // The packet went out, but b never reports (its agent is dead): not a success.
      h.clock.advance(5001);
      await h.report(["a"]);
      await h.s.tick();
      expect((await woke).ok).toBe(false);
      const row = h.s.store.power.list({ host: "b" })[0]!;
      expect([row.action, row.status, row.error?.code]).toEqual(["wake", "timed-out", "wake.timeout"]);
      expect(row.error?.message).toMatch(/b did not report healthy within 5000 ms/);
      expect(h.s.state.hosts.get("b")!.wakeFailed).toBe(true);
      expect(() => h.s.power.requestWake("b", "schedule:consolidate", "again")).toThrow(/failed to wake 1 time\(s\) in a row/);

      // The capacity is sought elsewhere: c is woken instead, and done once c reports.
      await expect.poll(() => udp.packets.length, { timeout: 15_000, interval: 20, message: "c's magic packet" }).toBe(2);
      expect(udp.packets[1]!.subarray(6, 12).toString("hex")).toBe(MAC_C.replaceAll(":", ""));
      const instead = h.s.store.power.list({ host: "c" })[0]!;
      expect([instead.action, instead.reason]).toEqual(["wake", "instead of b (wake.timeout)"]);
      h.agents.revive("c");
      await h.report(["a", "c"]);
      expect(h.s.store.power.get(instead.id)!.status).toBe("succeeded");
      expect(h.s.power.wakeCandidate()).toBeUndefined();

      // The operator is told: the wake failed with its reason, b is marked.
      const seen = ApiPowerAction.parse(await json(await get(h.url(`/v1/power/${row.id}`))));
      expect([seen.state, seen.error?.code]).toEqual(["failed", "wake.timeout"]);
      const hs = HostsResponse.parse(await json(await get(h.url("/v1/hosts")))).hosts;
      expect(hs.find((x) => x.id === "b")).toMatchObject({ state: "standby", wakeFailed: true });

      h.clock.advance(WAKE_RETRY_BACKOFF.firstMs);
      await h.report(["a"]);
      await h.s.tick();
      expect(h.s.state.hosts.get("b")!.wakeFailed).toBe(false);
      expect(h.s.power.wakeCandidate()).toBe("b");
      expect(h.s.power.requestWake("b", "schedule:consolidate", "after the back-off").status).toBe("requested");
    } finally {
      udp.sock.close();
    }
  });

  it("peer WoL: a healthy peer's agent is asked to send the magic packet", async () => {
    await using h = await harness(
      ["a", "b"],
      {},
      { hosts: { b: { power: { wake: "peer-wol", mac: MAC, address: "127.0.0.12", port: 9 } } } },
    );
    await h.report();
    await post(h.url("/v1/hosts/b/power"), { action: "off" });
    await expect.poll(() => !h.agents.up.has("b"), { timeout: 15_000, interval: 20, message: "b off" }).toBe(true);
    h.clock.advance(3001);
    await h.report(["a"]);
    await h.s.tick();
    const on = ApiPowerAction.parse(await json(await post(h.url("/v1/hosts/b/power"), { action: "on" })));
    expect(on.method).toBe("peer-wol");
    await expect.poll(() => h.agents.count("wake-peer") === 1, { timeout: 15_000, interval: 20, message: "wake-peer sent" }).toBe(true);
    const cmd = h.agents.received.find((c) => c.kind === "wake-peer")!;
    expect(cmd).toMatchObject({ target: "b", mac: MAC, address: "127.0.0.12", port: 9 });
    h.agents.revive("b");
    await h.report();
    expect(h.s.store.power.get(on.id)!.status).toBe("succeeded");
  });
});
