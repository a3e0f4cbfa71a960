import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { Command, CommandReply, HostEvent, HostReport, silentLogger, subjects } from "@drover/protocol";
import { hostReport, migrateCommand } from "@drover/protocol/testing";
import type { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostAgent, resolveConfig } from "../src/index.js";
import { Collector } from "./helpers.js";

const H2_URI = "qemu+tcp://127.0.1.2/system";
const H2_UUID = "8f0c1b52-3c4e-4a7b-9d2e-000000000002";

// A real agent (h1) on a real nats-server; its libvirtd socket does not exist, so no command reaches
// a VM: what is asserted is whether the agent lets a command past its destination check.
describe("the agent obeys only destinations its cluster reports", () => {
  let nats: NatsServer;
  let dir: string;
  let agent: HostAgent;
  let running: Promise<void>;
  let bus: Bus;
  let events: Collector<HostEvent>;
  let peerTimer: NodeJS.Timeout;

  beforeAll(async () => {
    nats = await NatsServer.start();
    dir = await mkdtemp(join(tmpdir(), "drover-agentdef-"));
    const config = resolveConfig({
      cluster: "lab",
      host: "h1",
      nats: { servers: [nats.url] },
      libvirt: { uri: `qemu+unix:///system?socket=${join(dir, "absent.sock")}` },
      reportIntervalMs: 1000,
      dirtyRate: { enabled: false },
    });
    agent = await HostAgent.create(config, { logger: silentLogger });
    bus = await Bus.connect({ servers: [nats.url], name: "test", logger: silentLogger });
    events = new Collector(bus, subjects.hostEvent("lab", "h1"), HostEvent);
    await bus.flush(); // the server has the subscription before the agent's first event
    running = agent.run();
    // h2's agent, as the cluster sees it: reporting its migration URI every 200 ms.
    const publishPeer = () =>
      bus.publish(
        subjects.hostReport("lab", "h2"),
        HostReport,
        hostReport({ host: "h2", migrationUri: H2_URI, hostUuid: H2_UUID, timeMs: Date.now() }),
      );
    peerTimer = setInterval(publishPeer, 200);
    await events.next("agent-started", (e) => e.kind === "agent-started");
  });

  afterAll(async () => {
    clearInterval(peerTimer);
    events?.stop();
    await agent?.shutdown();
    await running;
    await bus?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (cmd: z.input<typeof Command>) =>
    bus.request(subjects.hostCommand("lab", "h1"), Command, cmd, CommandReply, { timeoutMs: 20_000 });

  it("refuses a migrate to a host id no report was seen from", async () => {
    const r = await send(
      migrateCommand({ id: "to-h9", migrationId: "m-h9", destination: { host: "h9", uri: "qemu+tcp://127.0.1.9/system" } }),
    );
    expect(r.status).toBe("refused");
    expect(r.error?.code).toBe("unknown-destination");
    expect(r.error?.message).toMatch(/h9/);
  });

  it("refuses a migrate to a known host at a URI that host does not report", async () => {
    const r = await send(
      migrateCommand({ id: "to-evil", migrationId: "m-evil", destination: { host: "h2", uri: "qemu+tcp://127.0.9.9/system" } }),
    );
    expect(r.status).toBe("refused");
    expect(r.error?.code).toBe("destination-uri-mismatch");
    expect(r.error?.message).toContain("127.0.9.9");
  });

  it("refuses a migrate naming a host UUID other than the one the destination reports, naming both", async () => {
    const other = "8f0c1b52-3c4e-4a7b-9d2e-0000000000ee";
    const r = await send(
      migrateCommand({ id: "to-other-uuid", migrationId: "m-uuid", destination: { host: "h2", uri: H2_URI, hostUuid: other } }),
    );
    expect(r.status).toBe("refused");
    expect(r.error?.code).toBe("destination-uuid-mismatch");
    expect(r.error?.message).toContain(H2_UUID);
    expect(r.error?.message).toContain(other);
    // The UUID h2 reports (any case) passes the check.
    const ok = await send(
      migrateCommand({
        id: "to-h2-uuid",
        migrationId: "m-h2-uuid",
        destination: { host: "h2", uri: H2_URI, hostUuid: H2_UUID.toUpperCase() },
      }),
    );
    expect(ok.error?.code).toBe("libvirt-unavailable");
  });

  it("refuses a preflight to an unknown host too", async () => {
    const r = await send({
      v: 1,
      id: "pf-h9",
      issuedAtMs: Date.now(),
      kind: "preflight",
      vm: "vm1",
      destination: { host: "h9", uri: "x" },
    });
    expect(r.status).toBe("refused");
    expect(r.error?.code).toBe("unknown-destination");
  });

  it("lets a migrate to a known peer at its reported URI through to the VM lookup", async () => {
    const r = await send(migrateCommand({ id: "to-h2", migrationId: "m-h2", destination: { host: "h2", uri: H2_URI } }));
    // Past the destination check; stopped only because this agent's libvirtd is not there.
    expect(r.error?.code).toBe("libvirt-unavailable");
  });

  it("publishes a command event for each command, with who sent it and what came of it", async () => {
    const uri = "qemu+tcp://127.0.9.9/system";
    await send(migrateCommand({ id: "ev-evil", migrationId: "m-ev-evil", issuedBy: "intruder", destination: { host: "h2", uri } }));
    await send(migrateCommand({ id: "ev-h2", migrationId: "m-ev-h2", destination: { host: "h2", uri: H2_URI } }));
    await send({ v: 1, id: "ev-off", issuedAtMs: Date.now(), kind: "power-off" });
    const evil = await events.next("command event ev-evil", (m) => m.kind === "command" && m.command?.id === "ev-evil");
    expect(evil.host).toBe("h1");
    expect(evil.command).toMatchObject({
      kind: "migrate",
      issuedBy: "intruder",
      vm: "vm1",
      destination: { host: "h2", uri },
      outcome: "refused",
      duplicate: false,
      error: { code: "destination-uri-mismatch" },
    });
    expect(evil.detail).toContain("destination-uri-mismatch");
    const h2 = await events.next("command event ev-h2", (m) => m.kind === "command" && m.command?.id === "ev-h2");
    expect(h2.command).toMatchObject({
      issuedBy: "scheduler",
      destination: { host: "h2", uri: H2_URI },
      error: { code: "libvirt-unavailable" },
    });
    const off = await events.next("command event ev-off", (m) => m.kind === "command" && m.command?.id === "ev-off");
    expect(off.command).toMatchObject({
      kind: "power-off",
      vm: null,
      destination: null,
      outcome: "refused",
      error: { code: "power-off-not-configured" },
    });
  });
});
