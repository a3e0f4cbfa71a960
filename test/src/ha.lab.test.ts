// High availability (issue 11): two schedulers on a three-node NATS cluster (secured like the single
// server) and real agents, libvirtds and guests. The leader is killed (SIGKILL) mid-drain: the other
// leads within 10 s, finishes the drain, and no move is sent twice. Then one NATS node is killed:
// agents and the scheduler carry on. A follower serves reads and refuses changes naming the leader.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMaintenance, ApiMigration, StatusResponse } from "@drover/protocol";
import { ticksAbove } from "@drover/lab/testing";
import { call, drover, http } from "./helpers/api.js";
import { hosts, migrations, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;
const drained = ["vm1", "vm2"];
const guests = [...drained, "vm3"];
/** Issue 11's bound on a leader's failover. */
const NEW_LEADER_WITHIN_MS = 10_000;

beforeAll(async () => {
  const t0 = Date.now();
  d = await DroverLab.start({
    net: 48,
    hosts: 3,
    natsNodes: 3,
    schedulers: 2,
    guests: [
      // A working set rewritten slowly: under the bandwidth cap each move takes ten seconds or more,
      // so the kill lands with one move running and one still to send; it still converges.
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 16, dirtyRate: 1 } },
      { name: "vm2", host: "h1", memoryMiB: 96, workload: { dirtyMb: 16, dirtyRate: 1 } },
      // Moved with a NATS node down at the end: light enough to converge under the cap.
      { name: "vm3", host: "h2", memoryMiB: 96, workload: { dirtyMb: 8, dirtyRate: 1 } },
    ],
    scheduler: {
      // A lapsed lease is taken within a few seconds (the default TTL is 10 s).
      leadership: { ttlMs: 3000 },
      policies: { balance: { mode: "off" }, consolidate: { mode: "off" } },
      limits: { perSource: 1 },
      migration: { bandwidthMiBs: 8 },
      cooldowns: { vmMs: 1000, returnMs: 1000 },
    },
  });
  await waitReady(d.api, 3, guests);
  // waitReady asks scheduler 1 only; the test talks to both from its first lines, and the other may
  // still be starting (CI run 43 met its API refusing connections).
  for (const api of d.apis) await vi.waitFor(() => statusOf(api), { timeout: 60_000, interval: 250 });
  console.log(`ha lab: started in ${(Date.now() - t0) / 1000} s`);
});

afterAll(async () => {
  await d?.stop();
});

const statusOf = (api: string) => call(api, "GET", "/v1/status", StatusResponse);

/** The scheduler (1-based, as the lab numbers them) whose API says it leads; waits for one. */
async function leaderIndex(timeoutMs = 60_000): Promise<number> {
  return vi.waitFor(
    async () => {
      for (const [k, api] of d.apis.entries()) {
        const s = await statusOf(api).catch(() => undefined);
        if (s?.control?.leadership.leading) return k + 1;
      }
      throw new Error("waiting for a scheduler to lead");
    },
    { timeout: timeoutMs, interval: 200 },
  );
}

/** Lines of a host's agent log (every run of the agent appends to it) that mention all of `texts`. */
async function agentLogLines(host: string, ...texts: string[]): Promise<string[]> {
  const log = await readFile(join(d.lab.host(host).dir, "agent.log"), "utf8");
  return log.split("\n").filter((l) => texts.every((t) => l.includes(t)));
}

/** Every guest runs on exactly one host (from the lab's process table) and its counter goes on. */
async function guestsRunOnceAndTick(): Promise<Map<string, string>> {
  const where = new Map<string, string>();
  for (const g of guests) {
    const on: string[] = [];
    for (const h of d.lab.hosts) if ((await h.qemuProcs()).some((q) => q.guest === g)) on.push(h.name);
    expect(on, `${g} runs on`).toHaveLength(1);
    where.set(g, on[0]!);
    const now = (await d.ticks(g)).last;
    await ticksAbove(`${g} ticking on ${on[0]}`, d.lab.host(on[0]!).serialFile(g), now, 30_000);
  }
  return where;
}

describe("two schedulers on a three-node NATS cluster", () => {
  it("kill -9 of the leader mid-drain: the other leads within 10 s, finishes the drain, no move sent twice; then a NATS node dies and all carry on", async () => {
    const first = await leaderIndex();
    const other = first === 1 ? 2 : 1;
    const leaderApi = d.apis[first - 1]!;
    const followerApi = d.apis[other - 1]!;
    expect((await statusOf(followerApi)).control?.leadership.leading).toBe(false);
    // The lab's own view agrees: the lease names the leader.
    expect((await d.lab.status()).schedulers.map((s) => s.leading)).toEqual([first === 1, first === 2]);

    // A follower serves reads and refuses changes, naming the leader once it has read the lease
    // (its watch may not have delivered the leader's record yet on a loaded machine).
    await expect
      .poll(
        async () => {
          const refused = await http(followerApi, "POST", "/v1/hosts/h1/drain", { powerOff: false });
          return `${refused.status} ${JSON.stringify(refused.body)}`;
        },
        { timeout: 15_000, interval: 250 },
      )
      .toMatch(new RegExp(`^409 .*not-leader.*scheduler-${first}`));
    // Its picture is warm from the reports (waitReady asked scheduler 1 only, which may be the leader).
    await expect
      .poll(async () => (await hosts(followerApi)).filter((h) => h.state === "healthy").length, { timeout: 30_000, interval: 500 })
      .toBe(3);

    const before = new Map<string, number>();
    for (const g of guests) before.set(g, (await d.ticks(g)).last);
    const drain = await call(leaderApi, "POST", "/v1/hosts/h1/drain", ApiMaintenance, { powerOff: false });
    await vi.waitFor(
      async () => {
        const ms = await migrations(leaderApi);
        if (!ms.some((m) => m.state === "running" && (m.progress?.fraction ?? 0) > 0))
          throw new Error(`waiting for a drain move to be running: ${ms.map((m) => `${m.vm} ${m.state}`).join(", ") || "none"}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    const killedAt = Date.now();
    await d.lab.kill("scheduler", first);
    expect(d.lab.schedulers[first - 1]?.running).toBe(false);

    // Issue 11's bound: the other scheduler leads within 10 s.
    await expect
      .poll(async () => (await statusOf(followerApi).catch(() => undefined))?.control?.leadership.leading, {
        timeout: NEW_LEADER_WITHIN_MS,
        interval: 100,
      })
      .toBe(true);
    const failoverMs = Date.now() - killedAt;

    // It finishes the drain it imported from the journal.
    const done = await vi.waitFor(
      async () => {
        const m = await call(followerApi, "GET", `/v1/maintenance/${drain.id}`, ApiMaintenance);
        if (m.state !== "in-maintenance") throw new Error(`waiting for the drain to finish: ${m.state}, ${m.vmsLeft} VMs left`);
        return m;
      },
      { timeout: 300_000, interval: 1000 },
    );
    expect(done.vmsLeft).toBe(0);

    // Each VM moved once, with one outcome, and every migrate command reached h1's agent once.
    const all = await migrations(followerApi);
    const table = JSON.stringify(all.map((m) => [m.vm, m.state, m.commandId, m.source, m.destination]));
    for (const g of drained) {
      const ran = all.filter((m) => m.vm === g && m.startedAtMs !== null);
      expect(
        ran.map((m) => m.state),
        `${g}: ${table}`,
      ).toEqual(["succeeded"]);
      expect(await agentLogLines("h1", `"${ran[0]!.commandId}"`, '"command received"'), `${g}'s command on h1`).toHaveLength(1);
    }
    const migratesOnH1 = await agentLogLines("h1", '"kind":"migrate"', '"command received"');
    expect(migratesOnH1, `migrate commands h1 received; moves: ${table}`).toHaveLength(drained.length);
    expect(await agentLogLines("h1", "stale-lease-revision")).toHaveLength(0);

    let where = await guestsRunOnceAndTick();
    for (const g of drained) expect(where.get(g)).not.toBe("h1");
    // Past the count from before the drain: the same guests went on (ticksAbove, so a guest QEMU's
    // TCG migration killed is told apart from one Drover lost, as everywhere).
    for (const g of guests)
      await ticksAbove(`${g} past its count before the drain`, d.lab.host(where.get(g)!).serialFile(g), before.get(g) ?? 0, 30_000);

    // `drover status` names the leader and the NATS cluster's health.
    const st = await drover(followerApi, ["status"], 60_000);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain(`scheduler: scheduler-${other} leads`);
    expect(st.stdout).toMatch(/NATS: connected to n[123] .*cluster lab, \d+ servers known; lease replicas: leader n[123]/);

    // One NATS node dies: the agents' reports still arrive and a move still runs to its end.
    await d.lab.kill("nats", 1);
    expect((await d.lab.status()).natsNodes.map((n) => n.running)).toEqual([false, true, true]);
    // The lease is read again once its bucket has a leader among the nodes left.
    await expect
      .poll(async () => (await d.lab.status()).schedulers.map((x) => [x.running, x.leading]), { timeout: 30_000, interval: 500 })
      .toEqual([1, 2].map((k) => (k === first ? [false, false] : [true, true])));
    const received = (await statusOf(followerApi)).reports.received;
    await expect
      .poll(async () => (await statusOf(followerApi)).reports.received, { timeout: 30_000, interval: 500 })
      .toBeGreaterThan(received + 6);
    expect((await statusOf(followerApi)).control?.leadership.leading).toBe(true);
    const move = await call(followerApi, "POST", "/v1/migrations", ApiMigration, { vm: "vm3", host: "h3" });
    const moved = await waitMigrationDone(followerApi, move.id, 180_000);
    expect(moved.state, JSON.stringify(moved.error)).toBe("succeeded");
    where = await guestsRunOnceAndTick();
    expect(where.get("vm3")).toBe("h3");
    console.log(`ha lab: new leader after ${failoverMs} ms; drain done; a move ran with NATS node n1 down`);
  });
});
