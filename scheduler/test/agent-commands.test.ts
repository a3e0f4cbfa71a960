// Every command an agent runs is recorded, whoever sent it: the agents' `command` events go into the
// store and `/v1/history`, and one the scheduler did not send is marked, counted and logged (rate
// limited). Real nats-server, real SQLite, a running Scheduler; the fake agents publish the events
// the real agent publishes.
import { describe, expect, it, vi } from "vitest";
import { Bus } from "@drover/bus";
import { Command, CommandReply, HistoryResponse, HostEvent, HostReport, silentLogger, subjects, type CommandInput } from "@drover/protocol";
import { get, harness, json, type Harness } from "./harness.js";
import { memoryLogger } from "@drover/protocol/testing";
import { CLUSTER, report, uuid } from "./helpers.js";

const commandHistory = async (h: Harness) =>
  HistoryResponse.parse(await json(await get(h.url("/v1/history?kind=command&limit=1000")))).entries;

/** Sends a command to a host's agent from a second client, as anyone holding a command-capable identity could. */
async function sendAsOutsider(h: Harness, host: string, cmd: CommandInput): Promise<CommandReply> {
  await using bus = await Bus.connect({ servers: [h.nats.url], name: "outsider", logger: silentLogger });
  return await bus.request(subjects.hostCommand(CLUSTER, host), Command, cmd, CommandReply, { timeoutMs: 5000 });
}

describe("commands agents ran", () => {
  it("records the scheduler's own preflight and migrate as issued by it; both name the destination's reported host UUID", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v0" }] });
    await h.report();
    const bUuid = "5d1e2f3a-0000-4000-8000-00000000000b";
    h.agents.bus.publish(subjects.hostReport(CLUSTER, "b"), HostReport, report("b", [], h.clock.now(), { hostUuid: bUuid.toUpperCase() }));
    await expect.poll(() => h.s.state.hosts.get("b")?.report?.hostUuid, { timeout: 15_000, interval: 20 }).toBe(bUuid);
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "record check" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    await expect.poll(async () => (await commandHistory(h)).length, { timeout: 15_000, interval: 20 }).toBe(2);
    const entries = await commandHistory(h);
    const migrate = entries.find((e) => e.id === m.commandId);
    expect(migrate).toMatchObject({ kind: "command", host: "a", vm: uuid(1), outcome: "accepted", requestedBy: "scheduler" });
    expect(migrate!.summary).toBe(
      `command migrate ${m.commandId} on a of ${uuid(1)} to b (qemu+tcp://127.0.0.1/b): accepted [issued by "scheduler"]`,
    );
    const preflight = entries.find((e) => e.id !== m.commandId)!;
    expect(preflight.summary).toMatch(/^command preflight pf-/);
    for (const e of entries) expect(e.summary).not.toMatch(/NOT ISSUED/);
    const sent = h.agents.received.filter((c) => c.kind === "preflight" || c.kind === "migrate");
    expect(sent.map((c) => ("destination" in c ? c.destination : null))).toEqual([
      { host: "b", uri: "qemu+tcp://127.0.0.1/b", hostUuid: bUuid },
      { host: "b", uri: "qemu+tcp://127.0.0.1/b", hostUuid: bUuid },
    ]);
    expect(h.s.store.agentCommands.list().map((r) => r.destination?.hostUuid)).toEqual([bUuid, bUuid]);
    expect(h.s.store.agentCommands.list({ notIssuedHere: true })).toEqual([]);
    const metrics = await (await get(h.url("/metrics"))).text();
    expect(metrics).toContain('drover_agent_commands_total{kind="migrate",issuer="this-scheduler"} 1');
  });

  it("records a command sent by someone else as NOT issued by this scheduler, once per event, and logs it rate-limited", async () => {
    const log = memoryLogger();
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v0" }] }, {}, { logger: log });
    await h.report();
    // The scheduler's own move; then its command id replayed to another host with another body: not the scheduler's.
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "own move" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    h.agents.behaviour = { ...h.agents.behaviour, migrate: "hold" };
    await sendAsOutsider(h, "b", {
      v: 1,
      id: m.commandId,
      issuedAtMs: Date.now(),
      issuedBy: "mallory",
      kind: "migrate",
      migrationId: "m-outside",
      vm: uuid(1),
      destination: { host: "a", uri: "qemu+tcp://127.0.0.1/a" },
      options: {},
    });

    // Claims to be the scheduler; the agent runs it (the NATS server let this identity publish a command).
    const cmd = { v: 1, id: "outside-off-1", issuedAtMs: Date.now(), issuedBy: "scheduler", kind: "power-off" } as const;
    expect((await sendAsOutsider(h, "b", cmd)).status).toBe("accepted");
    const foreign = async () => (await commandHistory(h)).filter((e) => e.summary.startsWith("NOT ISSUED BY THIS SCHEDULER: "));
    await expect.poll(async () => (await foreign()).length, { timeout: 15_000, interval: 20 }).toBe(2);
    const off = (await foreign()).find((e) => e.host === "b" && e.id === "outside-off-1");
    const mig = (await foreign()).find((e) => e.host === "b" && e.id === m.commandId);
    expect(off).toMatchObject({ id: "outside-off-1", host: "b", outcome: "accepted", requestedBy: "scheduler" });
    expect(off!.summary).toBe(
      'NOT ISSUED BY THIS SCHEDULER: command power-off outside-off-1 on b: accepted [issued by "scheduler", unverified]',
    );
    expect(mig).toMatchObject({ id: m.commandId, host: "b", requestedBy: "mallory" });
    // The scheduler's own move stays its own.
    const own = (await commandHistory(h)).find((e) => e.id === m.commandId && e.host === "a");
    expect(own?.summary).toMatch(/^command migrate /);

    // A replayed event adds no row.
    const before = h.s.store.agentCommands.list({ limit: 1000 }).length;
    const info = {
      id: "outside-off-1",
      kind: "power-off",
      issuedBy: "scheduler",
      vm: null,
      destination: null,
      outcome: "accepted",
      duplicate: false,
      error: null,
    } as const;
    const event = { v: 1, host: "b", timeMs: Date.now(), kind: "command", detail: "replayed", command: info } as const;
    h.agents.bus.publish(subjects.hostEvent(CLUSTER, "b"), HostEvent, event);
    // An event on b's subject claiming to come from a: dropped and counted.
    h.agents.bus.publish(subjects.hostEvent(CLUSTER, "b"), HostEvent, { ...event, host: "a", command: { ...info, id: "x-2" } });
    const rejected = async () => (await h.s.metrics.hostEventsRejected.get()).values.find((v) => v.labels.reason === "wrong-host")?.value;
    await expect.poll(rejected, { timeout: 15_000, interval: 20 }).toBe(1);
    expect(h.s.store.agentCommands.list({ limit: 1000 })).toHaveLength(before);

    const warned = log.entries.filter((l) => l.level === "warn" && l.msg.includes("NOT issued by this scheduler"));
    // Both ran on b within one interval: one line, the first.
    expect(warned.map((l) => l.obj["host"])).toEqual(["b"]);
    const metrics = await (await get(h.url("/metrics"))).text();
    expect(metrics).toContain('drover_agent_commands_total{kind="power-off",issuer="other"} 1');
    expect(metrics).toContain('drover_agent_commands_total{kind="migrate",issuer="other"} 1');
  });

  it("writes one line per host per interval however many foreign commands a host runs", async () => {
    const log = memoryLogger();
    await using h = await harness(["a"], {}, {}, { logger: log });
    await h.report();
    for (let i = 0; i < 20; i++) {
      await sendAsOutsider(h, "a", {
        v: 1,
        id: `wake-${i}`,
        issuedAtMs: Date.now(),
        kind: "wake-peer",
        target: "z",
        mac: "02:00:00:00:00:01",
        address: "127.0.0.9",
      });
    }
    await vi.waitFor(() => expect(h.s.store.agentCommands.list({ notIssuedHere: true, limit: 100 })).toHaveLength(20), {
      timeout: 15_000,
    });
    const warned = () => log.entries.filter((l) => l.msg.includes("NOT issued by this scheduler"));
    expect(warned()).toHaveLength(1);
    // After the interval the next one is logged with how many were not.
    h.clock.advance(h.s.config.reports.dropLogIntervalMs);
    await sendAsOutsider(h, "a", {
      v: 1,
      id: "wake-late",
      issuedAtMs: Date.now(),
      kind: "wake-peer",
      target: "z",
      mac: "02:00:00:00:00:01",
      address: "127.0.0.9",
    });
    await vi.waitFor(() => expect(warned()).toHaveLength(2), { timeout: 15_000 });
    expect(warned()[1]!.obj).toMatchObject({ host: "a", command: "wake-late", notLoggedSinceLast: 19 });
  });
});
