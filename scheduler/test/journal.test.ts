// The journal holds what is open, and nothing of what has ended: its stream must not grow with every
// move a cluster ever made, or each takeover's listing slows until it times out.
import { describe, expect, it } from "vitest";
import { Bus, journalBucket } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { silentLogger } from "@drover/protocol";
import { Journal } from "../src/journal.js";
import { uuid } from "./helpers.js";

const move = (i: number) => ({
  migrationId: `m${i}`,
  commandId: `c${i}`,
  vmUuid: uuid(i),
  source: "a",
  destination: "b",
  sentAtMs: 1000 + i,
  sentBy: "sched-a",
  leaseRevision: 1,
});

describe("journal", () => {
  it("keeps what is open; a move, drain or power action that ended leaves nothing in the bucket's stream", async () => {
    await using nats = await NatsServer.start();
    await using bus = await Bus.connect({ servers: [nats.url], name: "journal-test", logger: silentLogger });
    const journal = await Journal.open(bus, "c1", 1);
    for (let i = 0; i < 30; i++) await journal.moveSending(move(i));
    for (let i = 0; i < 29; i++) await journal.moveEnded(`m${i}`);
    await journal.drainOpened({ maintenanceId: "d1", host: "a", powerOff: false, requestedBy: "api:ops", atMs: 5 });
    await journal.drainClosed("a");
    const power = { id: "p1", host: "b", action: "wake", method: "wol", requestedBy: "policy:consolidate", reason: "load" } as const;
    await journal.powerOpened({ ...power, status: "sent", error: null, createdMs: 7, updatedMs: 7 });
    await journal.powerEnded("p1");
    await journal.modeSet({ policy: "consolidate", mode: "recommend", by: "api:ops", atMs: 9 });

    const open = await journal.unfinished();
    expect(open.moves.map((m) => m.migrationId)).toEqual(["m29"]);
    expect(open.drains).toEqual([]);
    expect(open.power).toEqual([]);
    expect(open.modes.map((m) => m.mode)).toEqual(["recommend"]);
    // The open move and the mode: 33 entries ended without a trace.
    expect(await bus.jetstream.storedMessages(`KV_${journalBucket("c1")}`)).toBe(2);
  });
});
