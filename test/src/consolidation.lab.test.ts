// Consolidation end to end, inside its window: the idle cluster is packed, an emptied host is
// powered off (its libvirtd really stops), and when load rises the scheduler wakes it (Wake-on-LAN
// to the lab host's listener) and it reports healthy again.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ModesResponse, StatusResponse } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { hosts, vms, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { windowAroundNow } from "./helpers/window.js";

let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 34,
    hosts: 3,
    guests: [
      { name: "vm1", host: "h1", memoryMiB: 128 },
      { name: "vm2", host: "h2", memoryMiB: 128 },
      { name: "vm3", host: "h3", memoryMiB: 128 },
    ],
    scheduler: {
      policies: {
        balance: { mode: "off" },
        // A low band: a lab "host" is the whole 2-core machine, so two busy TCG guests must count as high load.
        // Off until every guest ticks: a TCG guest moved while it boots can be lost (QEMU 7.2), and
        // DroverLab.start waits for each guest's first tick where it was defined.
        consolidate: { mode: "off", everyMs: 5000, window: windowAroundNow(), args: { band: { low: 0.2, high: 0.35 } } },
      },
      cooldowns: { vmMs: 0 },
    },
  });
  await waitReady(d.api, 3, ["vm1", "vm2", "vm3"]);
  await call(d.api, "POST", "/v1/modes/consolidate", ModesResponse, { mode: "automatic" });
});

afterAll(async () => {
  await d?.stop();
});

describe("consolidation", () => {
  it("powers off an emptied host in the window, then wakes it when load rises", async () => {
    const st = await call(d.api, "GET", "/v1/status", StatusResponse);
    expect(st.consolidationWindow.active).toBe(true);

    const off = await vi.waitFor(
      async () => {
        const hs = await hosts(d.api);
        const standby = hs.find((h) => h.state === "standby");
        if (!standby) throw new Error(`waiting for an emptied host to be powered off: ${hs.map((h) => `${h.id} ${h.state}`).join(", ")}`);
        return standby;
      },
      { timeout: 240_000, interval: 1000 },
    );
    expect(off.vmCount).toBe(0);
    const labHost = d.lab.host(off.id);
    await labHost.refresh();
    expect(labHost.power).toBe("off");
    expect(labHost.running).toBe(false);
    // Every guest still runs, on the hosts left on.
    const placed = await vms(d.api);
    expect(placed.map((v) => v.name).sort()).toEqual(["vm1", "vm2", "vm3"]);
    for (const v of placed) expect(v.host).not.toBe(off.id);
    for (const g of ["vm1", "vm2", "vm3"]) expect(await d.hostOf(g)).not.toBe(off.id);

    // Load rises: two busy guests start on a host that is on.
    const on = (await hosts(d.api)).find((h) => h.state === "healthy");
    expect(on).toBeDefined();
    await d.addGuest({ name: "busy1", host: on!.id, memoryMiB: 96, workload: { busy: 1, dirtyMb: 0 } });
    await d.addGuest({ name: "busy2", host: on!.id, memoryMiB: 96, workload: { busy: 1, dirtyMb: 0 } });

    const woken = await vi.waitFor(
      async () => {
        const h = (await hosts(d.api)).find((x) => x.id === off.id);
        if (h?.state !== "healthy") throw new Error(`waiting for standby host ${off.id} to be woken and report healthy: ${h?.state}`);
        return h;
      },
      { timeout: 300_000, interval: 2000 },
    );
    expect(woken.libvirtReachable).toBe(true);
    await labHost.refresh();
    expect(labHost.power).toBe("on");
  });
});
