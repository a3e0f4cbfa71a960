import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Bus, journalBucket, leaseBucket, LeaseHolder } from "@drover/bus";
import { NatsCluster } from "@drover/bus/testing";
import { ApiError, StatusResponse, silentLogger } from "@drover/protocol";
import { Journal } from "../src/journal.js";
import { leadershipSettings } from "../src/leadership.js";
import { Scheduler } from "../src/scheduler.js";
import { CLUSTER, FakeAgents, config, tempDir, uuid } from "./helpers.js";
import { LEASE_TTL_MS, leaderCandidate } from "./leader-candidate.js";

const TTL = LEASE_TTL_MS;
let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});
// Each test starts with no lease and an empty journal: one test's open drain is not the next one's.
afterEach(async () => {
  await using bus = await Bus.connect({ servers: cluster.urls, name: "cleanup", logger: silentLogger });
  for (const bucket of [leaseBucket(CLUSTER), journalBucket(CLUSTER)]) await bus.jetstream.deleteStream(`KV_${bucket}`);
});

const scheduler = (id: string, dir: string, ttlMs = TTL) => leaderCandidate(cluster.urls, id, dir, { ttlMs });

describe("two schedulers on a three-node NATS cluster", () => {
  it("one leads and sends fenced commands, the other follows warm and refuses changes; the follower takes over when the leader dies", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[1]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(1), name: "web1" });
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const a = await scheduler("sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof scheduler>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await scheduler("sched-b", dirB.path);
      const follower = b;
      // The follower ingests reports (its picture is warm) but leads nothing.
      await expect.poll(() => follower.s.state.vmCount, { timeout: 10_000 }).toBe(1);
      expect(follower.s.leadership.mayAct()).toBe(false);

      const refused = await follower.call("/v1/migrations", { vm: "web1", host: "b" });
      expect(refused.status).toBe(409);
      const { error } = ApiError.parse(await refused.json());
      expect(error.code).toBe("not-leader");
      expect(error.message).toMatch(/scheduler "sched-b" follows .*scheduler "sched-a" leads/);
      expect(agents.received).toEqual([]);
      // A run-time mode change is a change too: refused, and the follower's modes stay as they were.
      const before = { ...follower.s.modes.modes };
      const mode = await follower.call("/v1/modes/balance", { mode: before.balance === "off" ? "automatic" : "off" });
      expect(mode.status).toBe(409);
      expect(ApiError.parse(await mode.json()).error.code).toBe("not-leader");
      expect(follower.s.modes.modes).toEqual(before);

      const status = StatusResponse.parse(await (await follower.call("/v1/status")).json());
      expect(status.control?.leadership).toEqual({
        enabled: true,
        self: "sched-b",
        leading: false,
        leader: { id: "sched-a", apiUrl: null },
        leaseRevision: null,
        takingCharge: null,
      });
      expect(status.control?.nats.cluster).toBe("drover-test");
      expect(status.control?.nats.knownServers.length).toBeGreaterThanOrEqual(3);
      expect(["n1", "n2", "n3"]).toContain(status.control?.nats.leaseReplicas?.leader);
      expect(status.control?.nats.leaseReplicas?.replicas).toHaveLength(2);

      // The leader's move: every command carries its lease revision.
      const revA = a.s.leadership.fence()!;
      expect(revA).toBeGreaterThan(0);
      expect((await a.call("/v1/migrations", { vm: "web1", host: "b" })).status).toBeLessThan(300);
      await expect.poll(() => agents.vms.get(uuid(1))?.host, { timeout: 10_000 }).toBe("b");
      expect(agents.received.map((c) => c.kind)).toEqual(["preflight", "migrate"]);
      expect(agents.received.map((c) => c.leaseRevision)).toEqual([revA, revA]);

      // The leader's connection dies without releasing the lease: it lapses, the follower leads.
      await a.s.bus.close();
      await expect.poll(() => follower.s.leadership.mayAct(), { timeout: 4 * TTL }).toBe(true);
      expect(a.s.leadership.mayAct()).toBe(false);
      // The deposed leader sends nothing any more.
      await expect(a.s.agents.send("a", { kind: "power-off", id: "from-deposed" })).rejects.toMatchObject({ code: "not-leader" });
      expect(agents.count("power-off", "from-deposed")).toBe(0);
      const revB = follower.s.leadership.fence()!;
      expect(revB).toBeGreaterThan(revA);
      const sent = agents.received.length;
      await expect
        .poll(async () => (await follower.call("/v1/migrations", { vm: "web1", host: "a" })).status, { timeout: 10_000 })
        .toBeLessThan(300);
      await expect.poll(() => agents.vms.get(uuid(1))?.host, { timeout: 10_000 }).toBe("a");
      // Every command of the new leader carries its revision; besides this move's two, it may have
      // asked about the first move (status) while reconciling what the old leader journaled.
      const after = agents.received.slice(sent);
      expect(new Set(after.map((c) => c.leaseRevision))).toEqual(new Set([revB]));
      expect(after.filter((c) => c.kind !== "status").map((c) => c.kind)).toEqual(["preflight", "migrate"]);
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("a move in flight when the leader dies", () => {
  it("is journaled in NATS before it is sent; the next leader asks about it by its command id and never sends it again", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[2]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(2), name: "db1" });
    agents.behaviour = { ...agents.behaviour, migrate: "hold" };
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const a = await scheduler("sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof scheduler>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await scheduler("sched-b", dirB.path);
      const next = b;
      await expect.poll(() => next.s.state.vmCount, { timeout: 10_000 }).toBe(1);
      const res = await a.call("/v1/migrations", { vm: "db1", host: "b" });
      expect(res.status).toBeLessThan(300);
      await expect.poll(() => agents.held.size, { timeout: 10_000 }).toBe(1);
      const [cmd] = [...agents.held.values()];
      // The leader dies with the move running on the agent.
      await a.s.bus.close();
      await expect.poll(() => next.s.leadership.mayAct(), { timeout: 4 * TTL }).toBe(true);
      // The new leader knows the move from the journal and asks the source agent about it by command id.
      await expect.poll(() => agents.count("status"), { timeout: 15_000 }).toBeGreaterThan(0);
      expect(agents.received.filter((c) => c.kind === "status").every((c) => c.kind === "status" && c.commandId === cmd!.id)).toBe(true);
      const row = next.s.store.migrations.get(cmd!.migrationId);
      expect(row).toMatchObject({ commandId: cmd!.id, source: "a", destination: "b", requestedBy: "leader:sched-a" });
      // The agent finishes it: the new leader records the one outcome; the migrate was sent once.
      agents.finish("a", cmd!, true);
      await expect.poll(() => next.s.store.migrations.get(cmd!.migrationId)?.status, { timeout: 15_000 }).toBe("succeeded");
      expect(agents.count("migrate")).toBe(1);
      expect(agents.vms.get(uuid(2))?.host).toBe("b");
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("moves queued when the lease is lost", () => {
  it("are cancelled naming the cause, and not sent when the scheduler leads again", async () => {
    await using dir = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[0]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(7), name: "q1" });
    agents.place("a", { uuid: uuid(8), name: "q2" });
    agents.behaviour = { ...agents.behaviour, migrate: "hold" };
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const cfg = config(cluster.urls[0]!, dir.path, {
      nats: { servers: cluster.urls, requestTimeoutMs: 2000 },
      leadership: { id: "sched-q", ttlMs: TTL },
      limits: { perSource: 1 },
    });
    const s = Scheduler.create(cfg, { tickMs: 200 });
    await s.start();
    await using bus = await Bus.connect({ servers: cluster.urls, name: "lease-thief", logger: silentLogger });
    try {
      await expect.poll(() => s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => s.state.vmCount, { timeout: 10_000 }).toBe(2);
      const sent = s.dispatcher.submit({ vm: "q1", destination: "b", requestedBy: "test", reason: "test" });
      const queued = s.dispatcher.submit({ vm: "q2", destination: "b", requestedBy: "test", reason: "test" });
      await expect.poll(() => agents.held.size, { timeout: 10_000 }).toBe(1);
      expect(s.store.migrations.get(queued.id)?.status).toBe("pending");
      const revision = s.leadership.fence()!;
      // The lease is taken away (as when another scheduler's write wins): this one stops leading.
      const kv = await bus.jetstream.kv(leaseBucket(CLUSTER), LeaseHolder, { mustExist: true });
      await kv.delete(CLUSTER);
      await expect.poll(() => s.store.migrations.get(queued.id)?.status, { timeout: 4 * TTL }).toBe("cancelled");
      expect(s.store.migrations.get(queued.id)?.error).toMatchObject({ code: "leadership-lost" });
      expect(s.store.migrations.get(queued.id)?.error?.message).toMatch(/scheduler "sched-q" stopped leading before it sent this move/);
      // Leading again (nobody else contends), it follows the move it sent and sends nothing it had queued.
      await expect.poll(() => s.leadership.fence() ?? 0, { timeout: 4 * TTL }).toBeGreaterThan(revision);
      const [cmd] = [...agents.held.values()];
      agents.finish("a", cmd!, true);
      await expect.poll(() => s.store.migrations.get(sent.id)?.status, { timeout: 15_000 }).toBe("succeeded");
      await new Promise((r) => setTimeout(r, 1000));
      expect(agents.received.filter((c) => c.kind === "migrate").map((c) => c.kind === "migrate" && c.vm)).toEqual([uuid(7)]);
    } finally {
      clearInterval(reports);
      await s.shutdown();
      await agents.close();
    }
  });
});

describe("a leader whose journal cannot be read", () => {
  it("sends nothing, says why in its status, and takes charge once the journal answers", async () => {
    await using dir = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[0]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(9), name: "j1" });
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const c = await scheduler("sched-j", dir.path);
    await using bus = await Bus.connect({ servers: cluster.urls, name: "journal-breaker", logger: silentLogger });
    const status = async () => StatusResponse.parse(await (await c.call("/v1/status")).json()).control!.leadership;
    try {
      await expect.poll(async () => (await status()).leading && (await status()).takingCharge === null, { timeout: 10_000 }).toBe(true);
      await expect.poll(() => c.s.state.vmCount, { timeout: 10_000 }).toBe(1);
      const revision = c.s.leadership.fence()!;
      // The journal's stream goes (as when its bucket has no NATS leader), then the lease: it leads again
      // and cannot read what a previous leader left.
      await bus.jetstream.deleteStream(`KV_${journalBucket(CLUSTER)}`);
      const lease = await bus.jetstream.kv(leaseBucket(CLUSTER), LeaseHolder, { mustExist: true });
      await lease.delete(CLUSTER);
      await expect.poll(() => c.s.leadership.fence() ?? 0, { timeout: 4 * TTL }).toBeGreaterThan(revision);
      await expect.poll(async () => (await status()).takingCharge?.failedAttempts ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
      const taking = (await status()).takingCharge!;
      expect(taking.lastError).toMatch(new RegExp(`kv read ${journalBucket(CLUSTER)}`));
      // A move it accepts waits: nothing is sent before unfinished work is settled.
      const res = await c.call("/v1/migrations", { vm: "j1", host: "b" });
      expect(res.status).toBeLessThan(300);
      await new Promise((r) => setTimeout(r, 1500));
      expect(agents.received).toEqual([]);
      // The bucket is back: the next attempt takes charge and the move goes out.
      await Journal.open(bus, CLUSTER, leadershipSettings(c.s.config).replicas);
      await expect.poll(() => agents.vms.get(uuid(9))?.host, { timeout: 15_000 }).toBe("b");
      expect((await status()).takingCharge).toBeNull();
      expect(agents.count("migrate")).toBe(1);
    } finally {
      clearInterval(reports);
      await c.s.shutdown();
      await agents.close();
    }
  });
});

describe("a drain when the leader dies", () => {
  it("carries a mode set at run time to the next leader, recorded there under who set it", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const a = await scheduler("sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof scheduler>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await scheduler("sched-b", dirB.path);
      const next = b;
      expect(next.s.modes.modes.balance).toBe("off");
      expect((await a.call("/v1/modes/balance", { mode: "recommend" })).status).toBe(200);
      // The journal is written after the change is applied: wait for it before the leader goes.
      await using reader = await Bus.connect({ servers: cluster.urls, name: "journal-reader", logger: silentLogger });
      const journal = await Journal.open(reader, a.s.config.cluster, leadershipSettings(a.s.config).replicas);
      await expect.poll(async () => (await journal.unfinished()).modes.map((m) => m.mode), { timeout: 10_000 }).toEqual(["recommend"]);
      await a.s.bus.close();
      await expect.poll(() => next.s.leadership.mayAct(), { timeout: 4 * TTL }).toBe(true);
      await expect.poll(() => next.s.modes.modes.balance, { timeout: 15_000 }).toBe("recommend");
      const row = next.s.store.config.list({ key: "modes.balance", limit: 1 })[0];
      expect(row).toMatchObject({ who: "api:test-admin", oldValue: "off", newValue: "recommend" });
    } finally {
      await b?.s.shutdown();
      await a.s.shutdown();
    }
  });

  it("goes on under the next leader: the drain and its moves in flight come from the journal, each VM is sent once", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[0]!, ["a", "b", "c"]);
    agents.place("a", { uuid: uuid(3), name: "v3" });
    agents.place("a", { uuid: uuid(4), name: "v4" });
    agents.behaviour = { ...agents.behaviour, migrate: "hold" };
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const a = await scheduler("sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof scheduler>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await scheduler("sched-b", dirB.path);
      const next = b;
      await expect.poll(() => next.s.state.vmCount, { timeout: 10_000 }).toBe(2);
      const res = await a.call("/v1/hosts/a/drain", {});
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await expect.poll(() => agents.held.size, { timeout: 10_000 }).toBeGreaterThan(0);
      await a.s.bus.close();
      await expect.poll(() => next.s.leadership.mayAct(), { timeout: 4 * TTL }).toBe(true);
      await expect.poll(() => next.s.store.maintenance.get(id)?.host, { timeout: 15_000 }).toBe("a");
      // The agents finish what they were sent; the new leader sends what is left and ends the drain.
      await expect
        .poll(
          () => {
            agents.releaseAll();
            return next.s.store.maintenance.get(id)?.status;
          },
          { timeout: 30_000, interval: 200 },
        )
        .toBe("in-maintenance");
      expect(agents.on("a")).toEqual([]);
      const migrates = agents.received.filter((c) => c.kind === "migrate");
      expect(migrates.map((c) => c.kind === "migrate" && c.vm).sort()).toEqual([uuid(3), uuid(4)].sort());
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("one NATS node lost", () => {
  it("leaves one leading scheduler whose moves go through, and a follower that names it", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[2]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(7), name: "v7" });
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    // The default TTL: a lease outlives the seconds its bucket needs to elect a new leader among the
    // two nodes left (with a shorter one the leader may lose it then, and a move it accepted but had
    // not sent yet would be left in its store).
    const a = await scheduler("sched-a", dirA.path, 10_000);
    let b: Awaited<ReturnType<typeof scheduler>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await scheduler("sched-b", dirB.path, 10_000);
      const both = [a, b];
      // Both schedulers are connected to node 0 first (config lists the cluster in order): it goes.
      await cluster.kill(0);
      try {
        // Settled: one leads, connected again, and the other names it.
        const settled = () => {
          const leading = both.filter((x) => x.s.leadership.mayAct());
          const other = both.find((x) => x !== leading[0]);
          return (
            leading.length === 1 &&
            leading[0]!.s.bus.isConnected &&
            other?.s.leadership.status().leader?.id === leading[0]!.s.leadership.status().self
          );
        };
        await expect.poll(settled, { timeout: 30_000 }).toBe(true);
        const leader = both.find((x) => x.s.leadership.mayAct())!;
        await expect
          .poll(async () => (await leader.call("/v1/migrations", { vm: "v7", host: "b" })).status, { timeout: 15_000 })
          .toBeLessThan(300);
        await expect.poll(() => agents.vms.get(uuid(7))?.host, { timeout: 15_000 }).toBe("b");
        expect(agents.count("migrate")).toBe(1);
      } finally {
        await cluster.restartNode(0);
      }
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("leadership settings", () => {
  it("are on by default only with more than one NATS server, with at most three lease replicas", async () => {
    await using dir = await tempDir();
    const one = leadershipSettings(config("nats://127.0.0.1:4222", dir.path));
    expect(one).toMatchObject({ enabled: false, ttlMs: 10_000, replicas: 1, apiUrl: undefined });
    const urls = ["nats://127.0.0.1:1", "nats://127.0.0.2:1", "nats://127.0.0.3:1", "nats://127.0.0.4:1"];
    const many = leadershipSettings(config(urls[0]!, dir.path, { nats: { servers: urls }, http: { host: "127.0.9.5", port: 7070 } }));
    expect(many).toMatchObject({ enabled: true, replicas: 3, apiUrl: "http://127.0.9.5:7070" });
    expect(many.id).toMatch(/:7070$/);
    const off = leadershipSettings(config(urls[0]!, dir.path, { nats: { servers: urls }, leadership: { enabled: false, id: "s1" } }));
    expect(off).toMatchObject({ enabled: false, id: "s1" });
    expect(() => config(urls[0]!, dir.path, { leadership: { ttlMs: 10 } })).toThrow(/leadership\.ttlMs/);
    // The API's URL as followers name it: an IPv6 address in brackets, none for a wildcard address.
    const at = (http: object) => leadershipSettings(config(urls[0]!, dir.path, { nats: { servers: urls }, http })).apiUrl;
    expect(at({ host: "::1", port: 7070 })).toBe("http://[::1]:7070");
    expect(at({ host: "0.0.0.0", port: 7070, insecure: true })).toBeUndefined();
    expect(at({ host: "::", port: 7070, tls: { cert: "/c.pem", key: "/k.pem" } })).toBeUndefined();
    const told = config(urls[0]!, dir.path, {
      nats: { servers: urls },
      http: { host: "0.0.0.0", port: 7070, tls: { cert: "/c.pem", key: "/k.pem" } },
      leadership: { apiUrl: "https://sched1.example:7070" },
    });
    expect(leadershipSettings(told).apiUrl).toBe("https://sched1.example:7070");
  });
});
