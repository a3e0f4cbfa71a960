// Moves across clusters, end to end: h1 and h2 are cluster "lab", h3 is cluster "b" on the same
// NATS (its own subjects and credentials). `drover migrate vm1 --cluster b` moves a running guest to
// b's host, chosen by the scheduler, live (its tick counter continues there); a guest with a disk on
// h1's own storage goes to the named host h3 with its disk copied; `drover drain h2 --to-cluster b`
// evacuates h2 to b. A cluster not among the scheduler's peerClusters is refused.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { diskContentHash, localDiskNsPath } from "@drover/lab";
import { ApiMaintenance, ApiMigration } from "@drover/protocol";
import { call, drover } from "./helpers/api.js";
import { hosts, migrations, ticksMoved, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 58,
    hosts: 3,
    peerClusters: { b: ["h3"] },
    guests: [
      { name: "vm1", host: "h1", memoryMiB: 128 },
      { name: "vm2", host: "h2", memoryMiB: 128 },
      { name: "disk1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 0 }, localDisk: { sizeMiB: 32, dataMiB: 8 } },
    ],
    scheduler: { policies: { balance: { mode: "off" } } },
  });
  await waitReady(d.api, 2, ["vm1", "vm2", "disk1"]);
});

afterAll(async () => {
  await d?.stop();
});

/** `drover migrate` until the scheduler has b's host from its reports (a report every 2 s). */
async function migrateAcross(args: string[]): Promise<ApiMigration> {
  return vi.waitFor(
    async () => {
      const r = await drover(d.api, ["migrate", ...args, "--json"]);
      if (r.code !== 0) throw new Error(`drover migrate ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      return ApiMigration.parse(JSON.parse(r.stdout));
    },
    { timeout: 30_000, interval: 1000 },
  );
}

describe("moves across clusters", () => {
  it("lists only its own cluster's hosts", async () => {
    expect((await hosts(d.api)).map((h) => h.id).sort()).toEqual(["h1", "h2"]);
  });

  it("moves a running guest to a host of cluster b that the scheduler chooses; it ticks on there", async () => {
    const before = await d.ticks("vm1");
    expect(before.host).toBe("h1");
    const queued = await migrateAcross(["vm1", "--cluster", "b"]);
    expect(queued.destination).toBe("h3");
    expect(queued.destinationCluster).toBe("b");
    const m = await waitMigrationDone(d.api, queued.id);
    expect(m.state, JSON.stringify(m.error)).toBe("succeeded");
    // The same guest, arrived by live migration, ticking on past where it was.
    const after = await ticksMoved(d, "vm1", "h1", before.last);
    expect(after.host).toBe("h3");
    // Cluster lab no longer holds it, and the move shows it where cluster b's reports place it.
    await vi.waitFor(
      async () => {
        if ((await vms(d.api)).some((v) => v.name === "vm1")) throw new Error("waiting for vm1 to leave cluster lab's VMs");
        const now = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
        if (now.vmRunningOn !== "h3") throw new Error(`waiting for the move to show vm1 on h3: ${now.vmRunningOn}`);
      },
      { timeout: 30_000, interval: 1000 },
    );
  });

  it("moves a guest with a local disk to the named host of cluster b, its disk copied there", async () => {
    const nsPath = localDiskNsPath("disk1");
    const sourceHash = await diskContentHash(d.lab.host("h1").hostPath(nsPath));
    expect(existsSync(d.lab.host("h3").hostPath(nsPath))).toBe(false);
    const before = await d.ticks("disk1");
    const queued = await migrateAcross(["disk1", "--cluster", "b", "h3"]);
    expect([queued.destination, queued.destinationCluster]).toEqual(["h3", "b"]);
    const m = await waitMigrationDone(d.api, queued.id);
    expect(m.state, JSON.stringify(m.error)).toBe("succeeded");
    expect((await ticksMoved(d, "disk1", "h1", before.last)).host).toBe("h3");
    expect(await diskContentHash(d.lab.host("h3").hostPath(nsPath))).toBe(sourceHash);
  });

  it("refuses a cluster that is not among its peerClusters, naming them", async () => {
    const r = await drover(d.api, ["migrate", "vm2", "--cluster", "c"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cluster c is not one this scheduler may move VMs to \(peerClusters: b\)/);
    expect(await d.hostOf("vm2")).toBe("h2");
  });

  it("drains h2 to cluster b: its guest moves live and h2 ends in maintenance", async () => {
    const before = await d.ticks("vm2");
    const r = await drover(d.api, ["drain", "h2", "--to-cluster", "b", "--wait", "--json"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const m = ApiMaintenance.parse(JSON.parse(r.stdout));
    expect(m.toCluster).toBe("b");
    expect(m.state).toBe("in-maintenance");
    const after = await ticksMoved(d, "vm2", "h2", before.last);
    expect(after.host).toBe("h3");
    const moved = (await migrations(d.api)).find((x) => x.vm === "vm2" && x.state === "succeeded");
    expect(moved?.requestedBy).toMatch(/^maintenance:/);
    expect(moved?.destinationCluster).toBe("b");
  });
});
