import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { Command, CommandReply, HostEvent, silentLogger, subjects } from "@drover/protocol";
import type { z } from "zod";
import { afterAll, beforeAll } from "vitest";
import { HostAgent, resolveConfig } from "../src/index.js";
import { Collector } from "./helpers.js";

/**
 * A real agent (h1 of cluster lab, with `peerClusters`) on a real nats-server, started before the
 * describe's tests and stopped after them. Its libvirtd socket does not exist, so no command reaches
 * a VM: what a test asserts is which of the agent's checks let a command past or refused it.
 * `publishPeers` runs every 200 ms, as the peers' agents report.
 */
export function realAgent(opts: { peerClusters?: string[]; publishPeers?: (bus: Bus) => void } = {}) {
  const t = {} as {
    nats: NatsServer;
    dir: string;
    agent: HostAgent;
    running: Promise<void>;
    bus: Bus;
    events: Collector<HostEvent>;
    peerTimer: NodeJS.Timeout | undefined;
  };
  beforeAll(async () => {
    t.nats = await NatsServer.start();
    t.dir = await mkdtemp(join(tmpdir(), "drover-agent-"));
    const config = resolveConfig({
      cluster: "lab",
      host: "h1",
      peerClusters: opts.peerClusters ?? [],
      nats: { servers: [t.nats.url] },
      libvirt: { uri: `qemu+unix:///system?socket=${join(t.dir, "absent.sock")}` },
      reportIntervalMs: 1000,
      dirtyRate: { enabled: false },
      metrics: { enabled: false },
    });
    t.agent = await HostAgent.create(config, { logger: silentLogger });
    t.bus = await Bus.connect({ servers: [t.nats.url], name: "test", logger: silentLogger });
    t.events = new Collector(t.bus, subjects.hostEvent("lab", "h1"), HostEvent);
    await t.bus.flush(); // the server has the subscription before the agent's first event
    t.running = t.agent.run();
    const publish = opts.publishPeers;
    if (publish) t.peerTimer = setInterval(() => publish(t.bus), 200);
    await t.events.next("agent-started", (e) => e.kind === "agent-started");
  });
  afterAll(async () => {
    clearInterval(t.peerTimer);
    t.events?.stop();
    await t.agent?.shutdown();
    await t.running;
    await t.bus?.close();
    await t.nats?.stop();
    if (t.dir) await rm(t.dir, { recursive: true, force: true });
  });
  /** A command to the agent, as the scheduler sends it. */
  const send = (cmd: z.input<typeof Command>) =>
    t.bus.request(subjects.hostCommand("lab", "h1"), Command, cmd, CommandReply, { timeoutMs: 20_000 });
  return Object.assign(t, { send });
}
