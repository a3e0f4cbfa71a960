// PeerReports on a real nats-server: a destination's report is followed on its own cluster's subjects
// (this agent's cluster, or one of its peerClusters for a move across clusters), by cluster and host.
import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { DestinationFacts, HostReport, silentLogger, subjects } from "@drover/protocol";
import { hostReport } from "@drover/protocol/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PeerReports } from "../src/peer-reports.js";

const facts = (cluster: string, host: string, uri: string, timeMs = Date.now()) =>
  DestinationFacts.parse(hostReport({ cluster, host, migrationUri: uri, timeMs }));

describe("peer reports of two clusters", () => {
  let nats: NatsServer;
  let agentBus: Bus;
  let bus: Bus;
  let peers: PeerReports;

  beforeAll(async () => {
    nats = await NatsServer.start();
    agentBus = await Bus.connect({ servers: [nats.url], name: "agent", logger: silentLogger });
    bus = await Bus.connect({ servers: [nats.url], name: "peers", logger: silentLogger });
    peers = new PeerReports(agentBus, "lab", silentLogger, ["dc2"]);
  });

  afterAll(async () => {
    peers?.close();
    await agentBus?.close();
    await bus?.close();
    await nats?.stop();
  });

  /** Publishes `report` until `get` has it (the subscription is made by the first `get`). */
  async function following(cluster: string, host: string, uri: string) {
    const got = peers.get(host, 60_000, 5000, cluster);
    const timer = setInterval(
      () =>
        bus.publish(subjects.hostReport(cluster, host), HostReport, hostReport({ cluster, host, migrationUri: uri, timeMs: Date.now() })),
      50,
    );
    try {
      return await got;
    } finally {
      clearInterval(timer);
    }
  }

  it("keeps the same host id of each cluster apart, each from its own cluster's subject", async () => {
    const own = await following("lab", "h2", "qemu+tcp://127.0.1.2/system");
    const there = await following("dc2", "h2", "qemu+tcp://127.0.2.2/system");
    expect(own).toMatchObject({ cluster: "lab", host: "h2", migrationUri: "qemu+tcp://127.0.1.2/system" });
    expect(there).toMatchObject({ cluster: "dc2", host: "h2", migrationUri: "qemu+tcp://127.0.2.2/system" });
    // Without a cluster: this agent's own.
    expect((await peers.get("h2", 60_000, 0))?.cluster).toBe("lab");
    expect((await peers.get("h2", 60_000, 0, "dc2"))?.migrationUri).toBe("qemu+tcp://127.0.2.2/system");
  });

  it("ignores a report whose body names another host or cluster than its subject", async () => {
    const got = peers.get("h3", 60_000, 600, "dc2");
    const timer = setInterval(
      () =>
        bus.publish(
          subjects.hostReport("dc2", "h3"),
          HostReport,
          hostReport({ cluster: "lab", host: "h3", migrationUri: "qemu+tcp://127.0.9.9/system", timeMs: Date.now() }),
        ),
      50,
    );
    try {
      expect(await got).toBeNull();
    } finally {
      clearInterval(timer);
    }
  });

  it("files an offered report under its own cluster, the newer one kept", async () => {
    peers.offer(facts("dc2", "h4", "qemu+tcp://127.0.2.4/system"));
    expect((await peers.get("h4", 60_000, 0, "dc2"))?.migrationUri).toBe("qemu+tcp://127.0.2.4/system");
    expect(await peers.get("h4", 60_000, 0)).toBeNull();
    peers.offer(facts("dc2", "h4", "qemu+tcp://127.0.2.44/system", Date.now() - 60_000));
    expect((await peers.get("h4", 60_000, 0, "dc2"))?.migrationUri).toBe("qemu+tcp://127.0.2.4/system");
  });

  it("follows no cluster but its own and its peerClusters: get answers null at once, offer drops", async () => {
    peers.offer(facts("dc3", "h5", "qemu+tcp://127.0.3.5/system"));
    const t0 = Date.now();
    expect(await peers.get("h5", 60_000, 5000, "dc3")).toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
