// A migration result survives NATS being down and the agent restarting: owed in the command journal
// until the results stream acks it, stored there once however often it is tried. Real nats-server.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { MigrationResult, silentLogger, streams, subjects, type CommandReply } from "@drover/protocol";
import { CommandTable, type MigrationRecord } from "../src/command-table.js";
import { ResultOutbox } from "../src/result-outbox.js";

const C = "outbox";
const STREAM = streams.migrationResults(C);

const reply = (id: string): CommandReply => ({
  v: 1,
  id,
  host: "h1",
  kind: "migrate",
  status: "accepted",
  duplicate: false,
  error: null,
  timeMs: 1,
});
const record: MigrationRecord = {
  migrationId: "m1",
  vm: "vm1",
  vmUuid: "00000000-0000-4000-8000-000000000001",
  destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" },
  startedAtMs: 1000,
  timeoutMs: 60_000,
  undefineOnSource: true,
  guestRunning: true,
  images: [],
};
const result: MigrationResult = {
  v: 1,
  migrationId: "m1",
  commandId: "c1",
  vm: "vm1",
  vmUuid: record.vmUuid,
  source: "h1",
  destination: "h2",
  outcome: "succeeded",
  completedBy: "live",
  startedAtMs: 1000,
  endedAtMs: 5000,
  durationMs: 4000,
  downtimeMs: 30,
  bytesMoved: 1 << 20,
  escalations: [],
  vmRunningOn: "h2",
  error: null,
};

describe("result outbox", () => {
  let dir: string;
  let server: NatsServer;
  let bus: Bus;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-outbox-"));
    server = await NatsServer.start();
    bus = await Bus.connect({
      servers: [server.url],
      name: "outbox",
      logger: silentLogger,
      reconnectTimeWaitMs: 100,
      reconnectJitterMs: 50,
    });
    await bus.jetstream.ensureStream(STREAM, [subjects.allMigrationResults(C)], { maxAgeMs: 3_600_000 });
  });
  afterEach(async () => {
    await bus?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const journal = () => new CommandTable(10, { file: join(dir, "agent-commands.json"), host: "h1", log: silentLogger });
  const outboxFor = (table: CommandTable, via: Bus) =>
    new ResultOutbox({
      send: async (r) => {
        await via.jetstream.publish(subjects.migrationResult(C, "h1", r.migrationId), MigrationResult, r, { msgId: r.commandId });
      },
      acked: (id) => table.resultStored(id),
      log: silentLogger,
      firstRetryMs: 100,
      maxRetryMs: 500,
    });
  const stored = async () =>
    (await bus.jetstream.ensureStream(STREAM, [subjects.allMigrationResults(C)], { maxAgeMs: 3_600_000 })).state.messages;

  it("keeps a result through a NATS outage and an agent restart, then stores it once", async () => {
    const first = journal();
    first.claim("c1", reply("c1"));
    first.recordMigration("c1", record);
    await server.stopProcess();
    // The migration ends while NATS is down: owed, on disk with the outcome.
    first.finishMigration("c1", { status: "succeeded" }, result);
    const outbox = outboxFor(first, bus);
    outbox.add(result);
    await new Promise((r) => setTimeout(r, 300));
    expect(outbox.size).toBe(1);
    await outbox.close(); // the agent stops before NATS is back

    // The next run of the agent finds the result owed, and the outcome answered by status.
    const second = journal();
    expect(second.get("c1")?.status).toBe("succeeded");
    expect(second.owedResults()).toEqual([result]);
    await server.restart();
    const again = outboxFor(second, bus);
    for (const r of second.owedResults()) again.add(r);
    await expect.poll(() => again.size, { timeout: 15_000, interval: 100 }).toBe(0);
    expect(second.owedResults()).toEqual([]);
    expect(journal().owedResults()).toEqual([]); // and the journal says so
    expect(await stored()).toBe(1);

    // Sent again (an ack lost on the way back looks like this): the stream keeps it once.
    again.add(result);
    await expect.poll(() => again.size, { timeout: 10_000, interval: 50 }).toBe(0);
    expect(await stored()).toBe(1);
    await again.close();
  });

  it("retries with back-off while NATS is down and stores at once when kicked after the reconnect", async () => {
    const table = journal();
    table.claim("c1", reply("c1"));
    table.recordMigration("c1", record);
    table.finishMigration("c1", { status: "succeeded" }, result);
    await server.stopProcess();
    const warned: string[] = [];
    const outbox = new ResultOutbox({
      send: async (r) => {
        await bus.jetstream.publish(subjects.migrationResult(C, "h1", r.migrationId), MigrationResult, r, { msgId: r.commandId });
      },
      acked: (id) => table.resultStored(id),
      log: { ...silentLogger, warn: (_o: object, msg?: string) => void warned.push(msg ?? "") },
      firstRetryMs: 60_000, // the back-off alone would not try again within this test
      maxRetryMs: 60_000,
    });
    outbox.add(result);
    // The first attempt fails (no server to ack it); the result stays owed.
    await expect.poll(() => warned, { timeout: 15_000 }).toContain("migration result not stored yet; kept and retried");
    expect(outbox.size).toBe(1);
    await server.restart();
    await expect.poll(() => bus.isConnected, { timeout: 10_000 }).toBe(true);
    outbox.kick();
    await expect.poll(() => outbox.size, { timeout: 15_000, interval: 100 }).toBe(0);
    expect(table.owedResults()).toEqual([]);
    expect(await stored()).toBe(1);
    await outbox.close();
  });
});
