import { DestinationFacts, HostReport, subjects } from "@drover/protocol";
import { hostReport, migrateCommand } from "@drover/protocol/testing";
import { describe, expect, it } from "vitest";
import { verifyDestination } from "../src/destinations.js";
import { AgentError } from "../src/errors.js";
import { realAgent } from "./real-agent.js";

const H2_URI = "qemu+tcp://127.0.1.2/system";
const H2_UUID = "8f0c1b52-3c4e-4a7b-9d2e-000000000002";

describe("the agent obeys only destinations its cluster reports", () => {
  // h2's agent, as the cluster sees it: reporting its migration URI.
  const t = realAgent({
    publishPeers: (bus) =>
      bus.publish(
        subjects.hostReport("lab", "h2"),
        HostReport,
        hostReport({ host: "h2", migrationUri: H2_URI, hostUuid: H2_UUID, timeMs: Date.now() }),
      ),
  });

  const send = t.send;

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
    const evil = await t.events.next("command event ev-evil", (m) => m.kind === "command" && m.command?.id === "ev-evil");
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
    const h2 = await t.events.next("command event ev-h2", (m) => m.kind === "command" && m.command?.id === "ev-h2");
    expect(h2.command).toMatchObject({
      issuedBy: "scheduler",
      destination: { host: "h2", uri: H2_URI },
      error: { code: "libvirt-unavailable" },
    });
    const off = await t.events.next("command event ev-off", (m) => m.kind === "command" && m.command?.id === "ev-off");
    expect(off.command).toMatchObject({
      kind: "power-off",
      vm: null,
      destination: null,
      outcome: "refused",
      error: { code: "power-off-not-configured" },
    });
  });
});

describe("verifyDestination across clusters", () => {
  const own = { cluster: "lab", peerClusters: ["dc2"] };
  const report = (cluster: string, host: string, uri: string) =>
    DestinationFacts.parse(hostReport({ cluster, host, migrationUri: uri, hostUuid: H2_UUID, timeMs: Date.now() }));
  /** Reports as this agent would have them, by cluster and host; records what was asked. */
  const known = (...reports: DestinationFacts[]) => {
    const asked: string[] = [];
    const peerReport = async (host: string, cluster: string) => {
      asked.push(`${cluster}/${host}`);
      return reports.find((r) => r.host === host && r.cluster === cluster) ?? null;
    };
    return { asked, peerReport };
  };
  const refusal = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AgentError);
    return e as AgentError;
  };

  it("checks a destination of a peer cluster against that cluster's report of it", async () => {
    const dc2 = report("dc2", "h2", "qemu+tcp://127.0.2.2/system");
    const k = known(report("lab", "h2", H2_URI), dc2);
    const r = await verifyDestination({ host: "h2", uri: dc2.migrationUri, cluster: "dc2", hostUuid: H2_UUID }, own, k.peerReport);
    expect(r).toBe(dc2);
    expect(k.asked).toEqual(["dc2/h2"]);
    // No cluster in the command: this agent's own, whose h2 is another host.
    expect((await verifyDestination({ host: "h2", uri: H2_URI }, own, k.peerReport)).cluster).toBe("lab");
    const e = await refusal(verifyDestination({ host: "h2", uri: H2_URI, cluster: "dc2" }, own, k.peerReport));
    expect(e.code).toBe("destination-uri-mismatch");
    expect(e.message).toContain("h2 (cluster dc2)");
  });

  it("refuses a cluster peerClusters does not name before asking for any report, naming host, cluster and the key", async () => {
    const k = known(report("dc3", "h7", "qemu+tcp://127.0.3.7/system"));
    const e = await refusal(verifyDestination({ host: "h7", uri: "qemu+tcp://127.0.3.7/system", cluster: "dc3" }, own, k.peerReport));
    expect(e.code).toBe("destination-cluster-not-allowed");
    expect(e.message).toBe(
      "destination h7 is in cluster dc3, which this agent's peerClusters does not name (it names dc2; this agent is in cluster lab)",
    );
    expect(k.asked).toEqual([]);
    const none = await refusal(
      verifyDestination({ host: "h7", uri: "x", cluster: "dc2" }, { cluster: "lab", peerClusters: [] }, k.peerReport),
    );
    expect(none.message).toMatch(/peerClusters does not name \(it names none;/);
  });

  it("refuses a destination whose report comes from another cluster than the command names", async () => {
    // h2 is known on lab only; the command says it is dc2's.
    const onLab = known(report("lab", "h2", H2_URI));
    const e = await refusal(verifyDestination({ host: "h2", uri: H2_URI, cluster: "dc2" }, own, onLab.peerReport));
    expect(e.code).toBe("unknown-destination");
    expect(e.message).toMatch(/no report from it was seen on cluster dc2/);
    // A report filed under dc2 that says it is lab's is not dc2's h2 either.
    const mislabelled = async () => report("lab", "h2", H2_URI);
    const e2 = await refusal(verifyDestination({ host: "h2", uri: H2_URI, cluster: "dc2" }, own, mislabelled));
    expect(e2.code).toBe("unknown-destination");
  });
});

// The same real agent set-up, in cluster lab with peerClusters [dc2]: commands that move a guest into
// dc2 pass or fail the destination check by dc2's reports, on dc2's subjects.
describe("the agent moves guests into the clusters its peerClusters names only", () => {
  const DC2_H2_URI = "qemu+tcp://127.0.2.2/system";
  const DC2_H1_URI = "qemu+tcp://127.0.2.1/system";
  // dc2's h2, and dc2's h1 (the same id as this agent's host), each on dc2's subjects.
  const t = realAgent({
    peerClusters: ["dc2"],
    publishPeers: (bus) => {
      bus.publish(
        subjects.hostReport("dc2", "h2"),
        HostReport,
        hostReport({ cluster: "dc2", host: "h2", migrationUri: DC2_H2_URI, timeMs: Date.now() }),
      );
      bus.publish(
        subjects.hostReport("dc2", "h1"),
        HostReport,
        hostReport({ cluster: "dc2", host: "h1", migrationUri: DC2_H1_URI, timeMs: Date.now() }),
      );
    },
  });

  const send = t.send;

  it("lets a migrate to a peer cluster's host at its reported URI through, naming the cluster in the command event", async () => {
    const r = await send(
      migrateCommand({ id: "x-h2", migrationId: "mx-h2", destination: { host: "h2", uri: DC2_H2_URI, cluster: "dc2" } }),
    );
    expect(r.error?.code).toBe("libvirt-unavailable");
    const ev = await t.events.next("command event x-h2", (m) => m.kind === "command" && m.command?.id === "x-h2");
    expect(ev.command?.destination).toEqual({ host: "h2", uri: DC2_H2_URI, cluster: "dc2" });
    expect(ev.detail).toContain(`to h2 (cluster dc2) (${DC2_H2_URI})`);
  });

  it("does not take another cluster's host of this host's id for this host", async () => {
    const r = await send(
      migrateCommand({ id: "x-h1", migrationId: "mx-h1", destination: { host: "h1", uri: DC2_H1_URI, cluster: "dc2" } }),
    );
    expect(r.error?.code).toBe("libvirt-unavailable");
  });

  it("refuses a cluster peerClusters does not name, and a peer cluster's host at a URI it does not report", async () => {
    const r = await send(
      migrateCommand({ id: "x-dc3", migrationId: "mx-dc3", destination: { host: "h2", uri: DC2_H2_URI, cluster: "dc3" } }),
    );
    expect(r.status).toBe("refused");
    expect(r.error?.code).toBe("destination-cluster-not-allowed");
    expect(r.error?.message).toMatch(/h2 is in cluster dc3, which this agent's peerClusters does not name/);
    const uri = await send(
      migrateCommand({ id: "x-uri", migrationId: "mx-uri", destination: { host: "h2", uri: H2_URI, cluster: "dc2" } }),
    );
    expect(uri.error?.code).toBe("destination-uri-mismatch");
    // dc2's h2 is not this cluster's: without a cluster the command means lab's h2, which never reported.
    const ownH2 = await send(migrateCommand({ id: "x-own", migrationId: "mx-own", destination: { host: "h2", uri: DC2_H2_URI } }));
    expect(ownH2.error?.code).toBe("unknown-destination");
  });

  it("takes a preflight's destinationFacts of a peer cluster's host, and never of a cluster it does not follow", async () => {
    const uri = "qemu+tcp://127.0.2.4/system";
    const facts = (cluster: string) => DestinationFacts.parse(hostReport({ cluster, host: "h4", migrationUri: uri, timeMs: Date.now() }));
    const preflight = (id: string, cluster: string, destinationFacts: DestinationFacts) =>
      send({ v: 1, id, issuedAtMs: Date.now(), kind: "preflight", vm: "vm1", destination: { host: "h4", uri, cluster }, destinationFacts });
    // h4 never reports itself: only the scheduler's copy makes it known (then the VM lookup fails here).
    expect((await preflight("pf-h4", "dc2", facts("dc2"))).error?.code).toBe("libvirt-unavailable");
    expect((await preflight("pf-h4-dc3", "dc3", facts("dc3"))).error?.code).toBe("destination-cluster-not-allowed");
    // Facts of lab's h5 are no report of dc2's h5.
    const wrong = await send({
      v: 1,
      id: "pf-h5-wrong",
      issuedAtMs: Date.now(),
      kind: "preflight",
      vm: "vm1",
      destination: { host: "h5", uri, cluster: "dc2" },
      destinationFacts: { ...facts("lab"), host: "h5" },
    });
    expect(wrong.error?.code).toBe("unknown-destination");
  });
});
