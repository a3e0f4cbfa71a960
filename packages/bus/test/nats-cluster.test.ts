import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsCluster } from "../src/testing/index.js";
import { Bus } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";

let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});

describe("testing NatsCluster", () => {
  it("starts three routed JetStream nodes on their own loopback addresses with a meta leader", async () => {
    expect(cluster.urls).toHaveLength(3);
    expect(cluster.urls.map((u) => new URL(u).hostname)).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
    const leader = await cluster.waitForMetaLeader();
    expect(["n1", "n2", "n3"]).toContain(leader);
    // A node's monitor answers late on a busy machine (metaView is then undefined): ask again.
    for (const i of [0, 1, 2]) await expect.poll(async () => (await cluster.metaView(i))?.leader, { timeout: 15_000 }).toBe(leader);
  });

  it("tells a client of the other nodes, which one configured not to discover servers never adds", async () => {
    await cluster.waitForMetaLeader();
    const first = [cluster.urls[0]!];
    await using told = await Bus.connect({ servers: first, name: "discover-test", logger: memoryLogger() });
    await expect.poll(() => told.connectionInfo().knownServers.length, { timeout: 15_000 }).toBe(3);
    await using kept = await Bus.connect({ servers: first, name: "configured-test", logger: memoryLogger(), discoverServers: false });
    // The server's INFO (with the other nodes) comes with the connection; a round trip after it
    // has surely been read.
    await kept.flush();
    expect(kept.connectionInfo().knownServers).toEqual([new URL(cluster.urls[0]!).host]);
  });

  it("keeps a replicated bucket readable when one node is killed, and takes the node back", async () => {
    await using bus = await Bus.connect({ servers: cluster.urls, name: "cluster-test", logger: memoryLogger(), reconnectTimeWaitMs: 100 });
    const kv = await bus.jetstream.kv("cluster-test", z.object({ n: z.number() }), { replicas: 3 });
    await kv.put("k", { n: 1 });
    const victim = 0;
    const pid = cluster.nodes[victim]!.pid;
    await cluster.kill(victim);
    expect(cluster.nodes[victim]!.isRunning).toBe(false);
    expect(await cluster.metaView(victim)).toBeUndefined();
    expect(() => process.kill(pid!, 0)).toThrow();
    // Two of three nodes are a quorum: the bucket still takes writes once its stream has a leader again.
    await expect
      .poll(
        () =>
          kv.put("k", { n: 2 }).then(
            () => true,
            () => false,
          ),
        { timeout: 30_000, interval: 500 },
      )
      .toBe(true);
    // A get is a direct get, which any replica may answer: NATS promises monotonic reads, not
    // reading one's own write, so the follower may answer with n: 1 until it applies the write.
    await expect.poll(() => kv.get("k"), { timeout: 10_000, interval: 100 }).toEqual({ n: 2 });
    await cluster.restartNode(victim);
    expect(cluster.nodes[victim]!.isRunning).toBe(true);
    expect((await cluster.metaView(victim))?.leader).toBe(await cluster.waitForMetaLeader());
  });

  it("creates a replicated bucket asked for while the cluster has no quorum once two nodes are back", async () => {
    await using bus = await Bus.connect({ servers: cluster.urls, name: "settle-test", logger: memoryLogger(), reconnectTimeWaitMs: 100 });
    await cluster.kill(1);
    await cluster.kill(2);
    const opening = bus.jetstream.kv("settle-test", z.object({ n: z.number() }), { replicas: 3, settleMs: 60_000 });
    let settled = false;
    void opening.then(
      () => (settled = true),
      () => (settled = true),
    );
    // One node of three elects no meta leader: nothing can be placed until the others return.
    await new Promise((r) => setTimeout(r, 3000));
    expect(settled).toBe(false);
    await cluster.nodes[1]!.restart();
    await cluster.nodes[2]!.restart();
    const kv = await opening;
    await kv.put("k", { n: 7 });
    // As above: a replica just back may answer the direct get before it has applied the put.
    await expect.poll(() => kv.get("k"), { timeout: 10_000, interval: 100 }).toEqual({ n: 7 });
  });

  it("fails with the cluster's reason once the settle time has passed", async () => {
    await using bus = await Bus.connect({ servers: cluster.urls, name: "settle-fail", logger: memoryLogger(), reconnectTimeWaitMs: 100 });
    await cluster.waitForMetaLeader();
    // Five replicas on three nodes: the cluster can never place them, so the wait ends at its deadline.
    const t0 = Date.now();
    await expect(bus.jetstream.kv("settle-fail", z.object({ n: z.number() }), { replicas: 5, settleMs: 2000 })).rejects.toThrow(
      /open kv bucket settle-fail: .*(no suitable peers|insufficient resources)/,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  });
});
