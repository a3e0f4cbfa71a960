// What must survive the leader besides moves and drains (issue 11): a plan awaiting approval, a
// power action under way, and the run-time modes, read again each time a scheduler gains the lease.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Bus, journalBucket, leaseBucket } from "@drover/bus";
import { NatsCluster } from "@drover/bus/testing";
import { ApiPlan, silentLogger } from "@drover/protocol";
import { Journal } from "../src/journal.js";
import { leadershipSettings } from "../src/leadership.js";
import { CLUSTER, FakeAgents, tempDir, udpListener, uuid } from "./helpers.js";
import { LEASE_TTL_MS, leaderCandidate } from "./leader-candidate.js";

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await using bus = await Bus.connect({ servers: cluster.urls, name: "cleanup", logger: silentLogger });
  for (const bucket of [leaseBucket(CLUSTER), journalBucket(CLUSTER)]) await bus.jetstream.deleteStream(`KV_${bucket}`);
});

async function journalReader(s: { config: Parameters<typeof leadershipSettings>[0] }) {
  const bus = await Bus.connect({ servers: cluster.urls, name: "journal-reader", logger: silentLogger });
  const journal = await Journal.open(bus, s.config.cluster, leadershipSettings(s.config).replicas);
  return { journal, [Symbol.asyncDispose]: () => bus.close() };
}

describe("a plan awaiting approval when the leader dies", () => {
  it("is proposed on the next leader under the same id, runs when approved there, and leaves the journal once decided", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[0]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(21), name: "p1" });
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const a = await leaderCandidate(cluster.urls, "sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof leaderCandidate>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await leaderCandidate(cluster.urls, "sched-b", dirB.path);
      const next = b;
      await expect.poll(() => a.s.state.vmCount, { timeout: 10_000 }).toBe(1);
      const made = await a.call("/v1/plan", { kind: "drain", host: "a" });
      expect(made.status).toBe(200);
      const plan = ApiPlan.parse(await made.json());
      expect(plan.status).toBe("proposed");
      await using r = await journalReader(a.s);
      await expect.poll(async () => (await r.journal.unfinished()).plans.map((p) => p.id), { timeout: 10_000 }).toEqual([plan.id]);

      await a.s.bus.close();
      await expect.poll(() => next.s.leadership.mayAct(), { timeout: 4 * LEASE_TTL_MS }).toBe(true);
      await expect.poll(() => next.s.store.plans.get(plan.id)?.status, { timeout: 15_000 }).toBe("proposed");
      const imported = next.s.store.plans.get(plan.id)!;
      expect(imported.steps.map((s) => [s.action, s.vmName, s.source, s.destination])).toEqual([["migrate", "p1", "a", "b"]]);
      expect(agents.count("migrate")).toBe(0);

      const approved = await next.call(`/v1/plans/${plan.id}/approve`, {});
      expect(approved.status).toBe(200);
      await expect.poll(() => agents.vms.get(uuid(21))?.host, { timeout: 15_000 }).toBe("b");
      expect(agents.count("migrate")).toBe(1);
      expect(next.s.store.plans.get(plan.id)?.decidedBy).toBe("api:test-admin");
      await expect.poll(async () => (await r.journal.unfinished()).plans, { timeout: 10_000 }).toEqual([]);
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("a wake under way when the leader dies", () => {
  it("is judged by the next leader: the woken host's report ends it succeeded there, and it leaves the journal", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const wol = await udpListener();
    const agents = await FakeAgents.start(cluster.urls[1]!, ["a", "b", "c"]);
    agents.up.delete("c"); // c is off: it neither answers nor reports
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const power = { wake: "wol" as const, mac: "02:00:00:00:00:0c", address: "127.0.0.1", port: wol.port, wakeTimeoutMs: 60_000 };
    const over = { hosts: { a: {}, b: {}, c: { power } } };
    const a = await leaderCandidate(cluster.urls, "sched-a", dirA.path, { over });
    let b: Awaited<ReturnType<typeof leaderCandidate>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      b = await leaderCandidate(cluster.urls, "sched-b", dirB.path, { over });
      const next = b;
      const res = await a.call("/v1/hosts/c/power", { action: "on" });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await expect.poll(() => wol.packets.length, { timeout: 10_000 }).toBeGreaterThan(0);
      await using r = await journalReader(a.s);
      await expect.poll(async () => (await r.journal.unfinished()).power.map((p) => p.id), { timeout: 10_000 }).toEqual([id]);

      await a.s.bus.close();
      await expect.poll(() => next.s.leadership.mayAct(), { timeout: 4 * LEASE_TTL_MS }).toBe(true);
      await expect.poll(() => next.s.store.power.get(id)?.status, { timeout: 15_000 }).toBe("requested");
      expect(next.s.store.power.get(id)).toMatchObject({ host: "c", action: "wake", requestedBy: "api:test-admin" });
      await expect.poll(() => next.s.power.pendingFor("c")?.row.id, { timeout: 10_000 }).toBe(id);

      agents.revive("c"); // the magic packet worked: c boots and reports
      await expect.poll(() => next.s.store.power.get(id)?.status, { timeout: 15_000 }).toBe("succeeded");
      await expect.poll(async () => (await r.journal.unfinished()).power, { timeout: 10_000 }).toEqual([]);
    } finally {
      clearInterval(reports);
      wol.sock.close();
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});

describe("a scheduler that leads again", () => {
  it("reads the journal again: a mode another leader set meanwhile is adopted, and a plan decided there is superseded here", async () => {
    await using dirA = await tempDir();
    await using dirB = await tempDir();
    const agents = await FakeAgents.start(cluster.urls[2]!, ["a", "b"]);
    agents.place("a", { uuid: uuid(22), name: "r1" });
    const reports = setInterval(() => agents.publishReports(Date.now()), 200);
    const a = await leaderCandidate(cluster.urls, "sched-a", dirA.path);
    let b: Awaited<ReturnType<typeof leaderCandidate>> | undefined;
    try {
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => a.s.state.vmCount, { timeout: 10_000 }).toBe(1);
      const made = ApiPlan.parse(await (await a.call("/v1/plan", { kind: "drain", host: "a" })).json());
      await using r = await journalReader(a.s);
      await expect.poll(async () => (await r.journal.unfinished()).plans.map((p) => p.id), { timeout: 10_000 }).toEqual([made.id]);

      // a steps aside (releasing the lease); b leads, changes a mode and rejects the plan.
      b = await leaderCandidate(cluster.urls, "sched-b", dirB.path);
      const other = b;
      await a.s.leadership.stop();
      await expect.poll(() => other.s.leadership.mayAct(), { timeout: 4 * LEASE_TTL_MS }).toBe(true);
      expect(a.s.leadership.mayAct()).toBe(false);
      await expect.poll(() => other.s.store.plans.get(made.id)?.status, { timeout: 15_000 }).toBe("proposed");
      expect((await other.call("/v1/modes/balance", { mode: "recommend" })).status).toBe(200);
      expect((await other.call(`/v1/plans/${made.id}/reject`, {})).status).toBe(200);
      await expect.poll(async () => (await r.journal.unfinished()).plans, { timeout: 10_000 }).toEqual([]);
      await expect.poll(async () => (await r.journal.unfinished()).modes.map((m) => m.mode), { timeout: 10_000 }).toEqual(["recommend"]);
      expect(a.s.modes.modes.balance).toBe("off");
      expect(a.s.store.plans.get(made.id)?.status).toBe("proposed");

      // b stops; a contends again, leads, and reads what b left.
      await other.s.shutdown();
      b = undefined;
      a.s.leadership.start();
      await expect.poll(() => a.s.leadership.mayAct(), { timeout: 4 * LEASE_TTL_MS }).toBe(true);
      await expect.poll(() => a.s.modes.modes.balance, { timeout: 15_000 }).toBe("recommend");
      await expect.poll(() => a.s.store.plans.get(made.id)?.status, { timeout: 15_000 }).toBe("superseded");
      expect(agents.count("migrate")).toBe(0);
    } finally {
      clearInterval(reports);
      await b?.s.shutdown();
      await a.s.shutdown();
      await agents.close();
    }
  });
});
