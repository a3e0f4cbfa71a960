// A new leader must see every journal entry the previous one wrote. A KV get is a direct get, which
// any replica may answer, and a replica that was paused (a busy or swapping NATS node) answers from
// before the writes it has not applied yet: in this setup a direct get through the resumed follower
// missed the last entry in about one round of ten (a throwaway count). Reading from the stream's
// leader must never miss one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NatsCluster } from "../src/testing/index.js";
import { Bus } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";

const V = z.object({ n: z.number() });
let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});

describe("reading a replicated bucket from its leader", () => {
  it("sees every acknowledged write through a follower that was paused while they were made", async () => {
    await cluster.waitForMetaLeader();
    const leader = await (async () => {
      await using setup = await Bus.connect({ servers: cluster.urls, name: "setup", logger: memoryLogger() });
      await setup.jetstream.kv("leader-read", V, { replicas: 3 });
      return (await setup.jetstream.streamReplicas("KV_leader-read"))?.leader;
    })();
    const follower = [0, 1, 2].find((i) => cluster.serverName(i) !== leader)!;
    // The writer is connected to the other nodes, so pausing the follower does not pause it.
    const others = cluster.urls.filter((_, i) => i !== follower);
    await using writer = await Bus.connect({ servers: others, name: "writer", logger: memoryLogger() });
    const written = await writer.jetstream.kv("leader-read", V, { mustExist: true });
    // Connected to the follower only: its requests enter the cluster there.
    await using reader = await Bus.connect({ servers: [cluster.nodes[follower]!.url], name: "reader", logger: memoryLogger() });
    const read = await reader.jetstream.kv("leader-read", V, { mustExist: true });
    const pid = cluster.nodes[follower]!.pid!;
    for (let round = 1; round <= 20; round++) {
      process.kill(pid, "SIGSTOP");
      try {
        for (let j = 0; j < 20; j++) await written.put(`r${round}.${j}`, { n: j });
        // Asked while the follower is paused, answered as soon as it runs again.
        const reading = read.readFromLeader(`r${round}.>`);
        await new Promise((r) => setTimeout(r, 300));
        process.kill(pid, "SIGCONT");
        const entries = await reading;
        expect(entries.map((e) => e.key)).toEqual(Array.from({ length: 20 }, (_, j) => `r${round}.${j}`).sort());
        expect(entries.map((e) => e.value.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, j) => j));
      } finally {
        process.kill(pid, "SIGCONT");
      }
    }
  });
});
