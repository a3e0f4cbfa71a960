import { describe, expect, it } from "vitest";
import { HostReport } from "@drover/protocol";
import { ClusterState } from "../src/cluster-state.js";
import { buildSnapshot } from "../src/snapshot.js";
import { CLUSTER, config, report, uuid } from "./helpers.js";

const opts = { intervalMs: 1000, unreachableAfter: 3, historySamples: 10 };
const rep = (host: string, vms: Parameters<typeof report>[1], t: number, over = {}) => HostReport.parse(report(host, vms, t, over));

describe("ClusterState", () => {
  it("marks a host unreachable after the configured number of silent intervals, and back when it reports", () => {
    const s = new ClusterState(CLUSTER, opts);
    s.ingest(rep("a", [], 1000), 1000);
    const a = s.hosts.get("a")!;
    expect(s.stateOf(a, 1000 + 3000)).toBe("healthy");
    expect(s.stateOf(a, 1000 + 3001)).toBe("unreachable");
    expect(s.canBeSource("a", 5000)).toBe(false);
    expect(s.canBeDestination("a", 5000)).toBe(false);
    s.ingest(rep("a", [], 6000), 6000);
    expect(s.stateOf(a, 6000)).toBe("healthy");
  });

  it("treats a host whose libvirtd is unreachable as unreachable", () => {
    const s = new ClusterState(CLUSTER, opts);
    s.ingest(
      rep("a", [], 1000, { libvirt: { reachable: false, uri: "x", version: null, latencyMs: null, lastError: null, sinceMs: 0 } }),
      1000,
    );
    expect(s.stateOf(s.hosts.get("a")!, 1000)).toBe("unreachable");
  });

  it("ignores stale reports and reports of another cluster, and counts them", () => {
    const s = new ClusterState(CLUSTER, opts);
    expect(s.ingest(rep("a", [{ uuid: uuid(1), name: "v1" }], 2000), 2000)).toBe(true);
    expect(s.ingest(rep("a", [], 1500), 2100)).toBe(false);
    expect(s.counters.stale).toBe(1);
    expect(s.vm("v1")?.host).toBe("a");
    expect(s.ingest({ ...rep("a", [], 3000), cluster: "other" }, 3000)).toBe(false);
    expect(s.counters.wrongCluster).toBe(1);
  });

  it("keeps a VM seen on two hosts mid-migration on the running copy, and follows it when the source drops it", () => {
    const s = new ClusterState(CLUSTER, opts);
    const v = { uuid: uuid(1), name: "v1" };
    s.ingest(rep("a", [v], 1000), 1000);
    s.ingest(rep("b", [{ ...v, state: "paused" }], 1100), 1100);
    expect(s.vm(v.uuid)?.host).toBe("a");
    expect(s.alsoOn(v.uuid)).toEqual(["b"]);
    expect(s.vmsOn("b")).toHaveLength(0);
    // Switchover: running on b, gone from a.
    s.ingest(rep("b", [v], 2000), 2000);
    s.ingest(rep("a", [], 2100), 2100);
    expect(s.vm(v.uuid)?.host).toBe("b");
    expect(s.alsoOn(v.uuid)).toEqual([]);
    expect(s.vmCount).toBe(1);
  });

  it("moves a VM off a host that stopped reporting when another host reports it", () => {
    const s = new ClusterState(CLUSTER, opts);
    const v = { uuid: uuid(2), name: "v2" };
    s.ingest(rep("a", [v], 1000), 1000);
    s.ingest(rep("b", [v], 10_000), 10_000);
    expect(s.vm("v2")?.host).toBe("b");
  });

  it("builds a policy snapshot with MHz histories, states, rules from tags and shared storage", () => {
    const s = new ClusterState(CLUSTER, opts);
    const cfg = config("nats://127.0.0.1:1", "/tmp/x", {
      rules: [{ id: "db-on-a", kind: "vm-host", tag: "db", hosts: ["a"], mode: "must" }],
      hosts: { b: { power: { idleW: 90, maxW: 135 } } },
    });
    s.ingest(
      rep(
        "a",
        [
          { uuid: uuid(1), name: "v1", cpu: 0.5, tags: ["db", "drover:anti-affinity:web"] },
          { uuid: uuid(3), name: "v3", tags: ["drover:anti-affinity:web"] },
        ],
        1000,
      ),
      1000,
    );
    s.ingest(rep("b", [], 1000), 1000);
    const snap = buildSnapshot(s, cfg, 2000, { inFlight: [], recentFailures: [], lastMoves: new Map() });
    expect(snap.hosts.map((h) => [h.id, h.state, h.cpuCapacityMhz])).toEqual([
      ["a", "healthy", 16000],
      ["b", "healthy", 16000],
    ]);
    // Measured watts reach the policy (it empties inefficient hosts first); unknown stays unknown.
    expect(snap.hosts.map((h) => [h.power.idleW, h.power.maxW])).toEqual([
      [undefined, undefined],
      [90, 135],
    ]);
    const v1 = snap.vms.find((v) => v.id === uuid(1))!;
    expect(v1.cpuDemandMhzHistory).toEqual([1000]);
    expect(v1.storage).toEqual(["/var/lib/drover"]);
    expect(snap.rules).toContainEqual({ id: "db-on-a", kind: "vm-host", vmIds: [uuid(1)], hostIds: ["a"], mode: "must" });
    expect(snap.rules).toContainEqual({
      id: "tag:drover:anti-affinity:web",
      kind: "vm-anti-affinity",
      vmIds: [uuid(1), uuid(3)],
      hard: true,
    });
    const later = buildSnapshot(s, cfg, 10_000, { inFlight: [], recentFailures: [], lastMoves: new Map() });
    expect(later.hosts.every((h) => h.state === "unreachable")).toBe(true);
  });
});
