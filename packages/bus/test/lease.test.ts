import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsCluster } from "../src/testing/index.js";
import { Bus, leaseBucket, LeaderLease, LeaseHolder, type LeaseRole } from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";
import { sleep } from "./helpers.js";

const TTL = 3000;
let cluster: NatsCluster;
let keyN = 0;

beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});

/** A contender connected to one node of the cluster (each contender to a different node). */
async function contender(id: string, node: number, key: string, now?: () => number) {
  const bus = await Bus.connect({ servers: [cluster.urls[node]!], name: id, logger: memoryLogger(), reconnectTimeWaitMs: 100 });
  const lease = await LeaderLease.open(bus, {
    key,
    holder: { id, apiUrl: `http://${id}` },
    ttlMs: TTL,
    replicas: 3,
    logger: memoryLogger(),
    ...(now ? { now } : {}),
  });
  return { bus, lease };
}

const freshKey = () => `cluster-${++keyN}`;

describe("leader lease on a three-node cluster", () => {
  it("lets exactly one of two contenders lead, and the other names it", async () => {
    const key = freshKey();
    const a = await contender("a", 0, key);
    const b = await contender("b", 1, key);
    try {
      const both: string[] = [];
      a.lease.start();
      b.lease.start();
      await expect.poll(() => [a.lease.isLeading(), b.lease.isLeading()].filter(Boolean).length, { timeout: 10_000 }).toBe(1);
      // Over two TTLs of renewals, never both at once and never a change of leader.
      const first = a.lease.isLeading() ? a : b;
      const other = first === a ? b : a;
      for (let t = 0; t < (2 * TTL) / 100; t++) {
        if (a.lease.isLeading() && b.lease.isLeading()) both.push(`at sample ${t}`);
        expect(first.lease.isLeading()).toBe(true);
        await sleep(100);
      }
      expect(both).toEqual([]);
      const role = other.lease.role as Extract<LeaseRole, { kind: "follower" }>;
      expect(role.kind).toBe("follower");
      expect(role.leader).toEqual({ id: first === a ? "a" : "b", apiUrl: first === a ? "http://a" : "http://b" });
      expect(role.leaderRevision).toBeGreaterThan(0);
    } finally {
      await a.lease.stop();
      await b.lease.stop();
      await a.bus.close();
      await b.bus.close();
    }
  });

  it("hands the lease over within the TTL when the leader's connection dies, with a larger revision", async () => {
    const key = freshKey();
    const a = await contender("a", 0, key);
    const b = await contender("b", 2, key);
    try {
      a.lease.start();
      await expect.poll(() => a.lease.isLeading(), { timeout: 10_000 }).toBe(true);
      b.lease.start();
      await expect.poll(() => (b.lease.role.kind === "follower" ? b.lease.role.leader?.id : "leader"), { timeout: 10_000 }).toBe("a");
      const revA = a.lease.revision!;
      const changes: LeaseRole[] = [];
      b.lease.onChange((r) => changes.push(r));
      await a.bus.close(); // no release: the lease must lapse by the bucket's TTL
      const closedAt = Date.now();
      await expect.poll(() => b.lease.isLeading(), { timeout: 4 * TTL, interval: 50 }).toBe(true);
      // The lease lapses TTL after a's last renewal; b notices at its next attempt.
      expect(Date.now() - closedAt).toBeLessThan(TTL + b.lease.timing.attemptEveryMs + 2000);
      expect(b.lease.revision).toBeGreaterThan(revA);
      expect(a.lease.isLeading()).toBe(false);
      expect(changes.at(-1)?.kind).toBe("leader");
    } finally {
      await a.lease.stop();
      await b.lease.stop();
      await b.bus.close();
    }
  });

  it("a paused leader's renewal fails once the lease moved, and it steps down naming the new leader", async () => {
    const key = freshKey();
    let frozen = Date.now();
    // The paused process: its clock stands still, so it still believes its lease is valid.
    const a = await contender("a", 0, key, () => frozen);
    const b = await contender("b", 1, key);
    try {
      frozen = Date.now();
      expect((await a.lease.tryOnce()).kind).toBe("leader");
      const revA = a.lease.revision!;
      expect((await b.lease.tryOnce()).kind).toBe("follower");
      await expect.poll(async () => (await b.lease.tryOnce()).kind, { timeout: 4 * TTL, interval: 200 }).toBe("leader");
      const revB = b.lease.revision!;
      expect(revB).toBeGreaterThan(revA);
      expect(a.lease.isLeading()).toBe(true); // still believes it leads...
      const after = await a.lease.tryOnce(); // ...until its renewal at revA is refused
      expect(after).toEqual({ kind: "follower", leader: { id: "b", apiUrl: "http://b" }, leaderRevision: revB });
      expect(a.lease.isLeading()).toBe(false);
      expect(b.lease.isLeading()).toBe(true);
    } finally {
      await a.lease.stop();
      await b.lease.stop();
      await a.bus.close();
      await b.bus.close();
    }
  });

  it("survives the loss of one NATS node: afterwards exactly one contender leads and keeps renewing", async () => {
    const key = freshKey();
    // Both know every node, as schedulers on a cluster are configured; a is served by node 0 first.
    const connect = async (id: string, order: number[]) => {
      const bus = await Bus.connect({
        servers: order.map((i) => cluster.urls[i]!),
        name: id,
        logger: memoryLogger(),
        reconnectTimeWaitMs: 100,
        reconnectJitterMs: 50,
      });
      const lease = await LeaderLease.open(bus, { key, holder: { id }, ttlMs: TTL, replicas: 3, logger: memoryLogger() });
      return { bus, lease };
    };
    const a = await connect("a", [0, 1, 2]);
    const b = await connect("b", [1, 2, 0]);
    try {
      a.lease.start();
      await expect.poll(() => a.lease.isLeading(), { timeout: 10_000 }).toBe(true);
      b.lease.start();
      await cluster.kill(0);
      try {
        // Once the cluster settled: one leader, and the lease's revision keeps growing (renewals go
        // through). The bucket may still lack a stream leader for longer than the TTL on a loaded
        // machine, and then the lease lapses and is taken again: by either, with a larger revision.
        const leading = () => [a, b].filter((x) => x.lease.isLeading());
        await expect.poll(() => leading().length, { timeout: 30_000 }).toBe(1);
        const rev = leading()[0]?.lease.revision ?? 0;
        await expect.poll(() => (leading().length === 1 ? leading()[0]!.lease.revision! : 0), { timeout: 30_000 }).toBeGreaterThan(rev);
        expect(a.lease.isLeading() && b.lease.isLeading()).toBe(false);
      } finally {
        await cluster.restartNode(0);
      }
    } finally {
      await a.lease.stop();
      await b.lease.stop();
      await a.bus.close();
      await b.bus.close();
    }
  });

  it("takes back its own lease whose acquisition answer was lost, with a new revision", async () => {
    const key = freshKey();
    const a = await contender("a", 0, key);
    try {
      // The server stored a's create, but a never heard back: a is a follower while the entry says a.
      const raw = await a.bus.jetstream.kv(leaseBucket(key), LeaseHolder, { ttlMs: TTL, replicas: 3 });
      const lost = await raw.create(key, { id: "a", apiUrl: "http://a" });
      expect(a.lease.isLeading()).toBe(false);
      // A's first read may miss the entry (a replica's direct get); its create then conflicts and it reads again.
      await expect.poll(async () => (await a.lease.tryOnce()).kind, { timeout: TTL / 2, interval: 50 }).toBe("leader");
      expect(a.lease.revision).toBeGreaterThan(lost);
    } finally {
      await a.lease.stop();
      await a.bus.close();
    }
  });

  it("a leader that stops releases the lease so a follower takes it without waiting for the TTL", async () => {
    const key = freshKey();
    const a = await contender("a", 1, key);
    const b = await contender("b", 2, key);
    try {
      expect((await a.lease.tryOnce()).kind).toBe("leader");
      const revA = a.lease.revision!;
      expect((await b.lease.tryOnce()).kind).toBe("follower");
      await a.lease.stop();
      // b's read may come from a replica that has not applied the release yet (direct get): b tries
      // again, and leads well inside the TTL a's fresh lease would otherwise have run for.
      await expect.poll(async () => (await b.lease.tryOnce()).kind, { timeout: TTL / 2, interval: 50 }).toBe("leader");
      expect(b.lease.revision).toBeGreaterThan(revA);
    } finally {
      await b.lease.stop();
      await a.bus.close();
      await b.bus.close();
    }
  });
});
