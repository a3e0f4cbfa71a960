import { join } from "node:path";
import { Command, CommandReply, HostEvent, silentLogger, subjects } from "@drover/protocol";
import { migrateCommand } from "@drover/protocol/testing";
import type { z } from "zod";
import { describe, expect, it } from "vitest";
import { HostAgent, resolveConfig } from "../src/index.js";
import { Collector } from "./helpers.js";
import { realAgent } from "./real-agent.js";

// A real agent on a real nats-server, with no libvirtd: every migrate below is refused, and what is
// asserted is which check refused it: the fence (a deposed leader) or the destination check after it.
describe("the agent refuses commands from a deposed leader", () => {
  const t = realAgent();

  const send = (id: string, leaseRevision?: number) =>
    t.send({
      ...migrateCommand({ id, migrationId: `m-${id}`, destination: { host: "h9", uri: "qemu+tcp://127.0.1.9/system" } }),
      ...(leaseRevision ? { leaseRevision } : {}),
    } as z.input<typeof Command>);

  it("refuses a lower revision than one seen, naming both, and forgets nothing of the id", async () => {
    expect((await send("from-new-leader", 7)).error?.code).toBe("unknown-destination"); // past the fence
    const stale = await send("from-old-leader", 5);
    expect(stale.status).toBe("refused");
    expect(stale.error?.code).toBe("stale-lease-revision");
    expect(stale.error?.message).toMatch(/revision 5 is below 7/);
    // The refused id is not remembered: the new leader may send that very (persisted) id again.
    const again = await send("from-old-leader", 7);
    expect(again.duplicate).toBe(false);
    expect(again.error?.code).toBe("unknown-destination");
    // An equal or higher revision passes; a command without one (a single scheduler) is not fenced.
    expect((await send("same-leader", 7)).error?.code).toBe("unknown-destination");
    expect((await send("next-leader", 9)).error?.code).toBe("unknown-destination");
    expect((await send("old-again", 7)).error?.code).toBe("stale-lease-revision");
    expect((await send("no-lease")).error?.code).toBe("unknown-destination");
    // Every command, refused or not, is published as a command event.
    await t.events.next("the refused command's event", (e) => e.kind === "command" && JSON.stringify(e).includes("old-again"));
  });

  it("keeps the highest revision in its state dir: restarted, it still refuses the deposed leader", async () => {
    const stateDir = join(t.dir, "state-h2");
    const start = async () => {
      const config = resolveConfig({
        cluster: "lab",
        host: "h2",
        stateDir,
        nats: { servers: [t.nats.url] },
        libvirt: { uri: `qemu+unix:///system?socket=${join(t.dir, "absent.sock")}` },
        reportIntervalMs: 1000,
        dirtyRate: { enabled: false },
      });
      const a = await HostAgent.create(config, { logger: silentLogger });
      const h2Events = new Collector(t.bus, subjects.hostEvent("lab", "h2"), HostEvent);
      // The server has the subscription before the agent's first event: without it, a busy machine
      // lets agent-started go by unheard and the wait below runs out the test's time.
      await t.bus.flush();
      const run = a.run();
      await h2Events.next("h2's agent-started", (e) => e.kind === "agent-started");
      h2Events.stop();
      return { a, run };
    };
    const sendH2 = (id: string, leaseRevision: number) =>
      t.bus.request(
        subjects.hostCommand("lab", "h2"),
        Command,
        {
          ...migrateCommand({ id, migrationId: `m-${id}`, destination: { host: "h9", uri: "qemu+tcp://127.0.1.9/system" } }),
          leaseRevision,
        } as z.input<typeof Command>,
        CommandReply,
        { timeoutMs: 20_000 },
      );
    const one = await start();
    expect((await sendH2("new-leader", 12)).error?.code).toBe("unknown-destination");
    await one.a.shutdown();
    await one.run;
    const two = await start();
    try {
      const stale = await sendH2("old-leader-after-restart", 11);
      expect(stale.error?.code).toBe("stale-lease-revision");
      expect(stale.error?.message).toMatch(/revision 11 is below 12/);
      expect((await sendH2("new-leader-again", 12)).error?.code).toBe("unknown-destination");
    } finally {
      await two.a.shutdown();
      await two.run;
    }
  });
});
