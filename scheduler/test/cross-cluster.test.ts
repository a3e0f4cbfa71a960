// Moves to another cluster (config peerClusters): the scheduler follows the peer's reports, places
// a VM there with the drain policy or on the named host, sends the source agent a destination that
// names the cluster, and drains a host to the peer. A cluster it does not hold is refused by name.
import { describe, expect, it } from "vitest";
import { ApiMaintenance, ApiMigration, HostReport, subjects } from "@drover/protocol";
import { get, harness, json, post } from "./harness.js";
import { report, uuid, type VmSpec } from "./helpers.js";

describe("moves across clusters", () => {
  it("chooses a host of the peer, names the cluster in the command, and drains a host there", async () => {
    await using h = await harness(
      ["h1", "h2"],
      { h1: [{ uuid: uuid(1), name: "v1" }], h2: [{ uuid: uuid(2), name: "v2" }] },
      { peerClusters: ["b"] },
    );
    await h.report();
    // Cluster b's host, on b's own subjects: full enough that only p2 can take a VM.
    const peer = (host: string, memoryMiB: number, vms: VmSpec[] = []) =>
      h.agents.bus.publish(
        subjects.hostReport("b", host),
        HostReport,
        report(host, vms, h.clock.now(), { cluster: "b", capacity: { cpus: 8, mhz: 2000, memoryMiB, cpuModel: "qemu64" } }),
      );
    peer("p1", 256);
    peer("p2", 32768);
    await expect.poll(() => h.s.peers.find("b")?.hosts.size, { timeout: 10_000, interval: 20 }).toBe(2);
    expect([...h.s.state.hosts.keys()].sort()).toEqual(["h1", "h2"]);

    const res = await post(h.url("/v1/migrations"), { vm: "v1", cluster: "b" });
    expect(res.status).toBe(202);
    const m = ApiMigration.parse(await json(res));
    expect(m.destination).toBe("p2");
    expect(m.destinationCluster).toBe("b");
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    // The VM left this cluster with the result (not at h1's next report); the move shows it where
    // the peer's reports place it.
    expect(h.s.state.vm("v1")).toBeUndefined();
    expect(ApiMigration.parse(await json(await get(h.url(`/v1/migrations/${m.id}`)))).vmRunningOn).toBeNull();
    await peer("p2", 32768, [{ uuid: uuid(1), name: "v1" }]);
    await expect
      .poll(async () => ApiMigration.parse(await json(await get(h.url(`/v1/migrations/${m.id}`)))).vmRunningOn, {
        timeout: 10_000,
        interval: 20,
      })
      .toBe("p2");
    const sent = h.agents.received.find((c) => c.kind === "migrate");
    expect(sent?.kind === "migrate" && sent.destination).toEqual({ host: "p2", uri: "qemu+tcp://127.0.0.1/p2", cluster: "b" });

    // A named host of the peer is checked there; a cluster not in peerClusters is refused, naming them.
    const unknownHost = await post(h.url("/v1/migrations"), { vm: "v2", cluster: "b", host: "h1" });
    expect(unknownHost.status).toBe(400);
    expect((await json(unknownHost)).error.message).toBe('no host "h1" in cluster b');
    const unknownCluster = await post(h.url("/v1/migrations"), { vm: "v2", cluster: "c" });
    expect(unknownCluster.status).toBe(400);
    expect((await json(unknownCluster)).error.message).toBe("cluster c is not one this scheduler may move VMs to (peerClusters: b)");
    const none = await post(h.url("/v1/migrations"), { vm: "v2" });
    expect(none.status).toBe(400);
    expect(JSON.stringify(await json(none))).toContain("names no destination");

    const badDrain = await post(h.url("/v1/hosts/h2/drain"), { toCluster: "c" });
    expect(badDrain.status).toBe(400);
    expect(h.s.state.hosts.get("h2")!.mode).toBe("normal");
    const drain = await post(h.url("/v1/hosts/h2/drain"), { toCluster: "b" });
    expect(drain.status).toBe(202);
    const mnt = ApiMaintenance.parse(await json(drain));
    expect(mnt.toCluster).toBe("b");
    await expect.poll(() => h.s.store.migrations.list({ vm: uuid(2) })[0]?.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    const moved = h.s.store.migrations.list({ vm: uuid(2) })[0]!;
    expect(moved).toMatchObject({ destination: "p2", destinationCluster: "b", requestedBy: `maintenance:${mnt.id}` });
  });
});
