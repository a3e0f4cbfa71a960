import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HostReport } from "@drover/protocol";
import { Store } from "@drover/store";
import { ClusterState } from "../src/cluster-state.js";
import { buildSnapshot, planningSnapshot } from "../src/snapshot.js";
import { CLUSTER, config, report, tempDir, uuid } from "./helpers.js";

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
    expect(s.ingest(rep("a", [{ uuid: uuid(1), name: "v1" }], 2000), 2000)).toBe("accepted");
    expect(s.ingest(rep("a", [], 1500), 2100)).toBe("stale");
    expect(s.counters.dropped.stale).toBe(1);
    expect(s.vm("v1")?.host).toBe("a");
    expect(s.ingest({ ...rep("a", [], 3000), cluster: "other" }, 3000)).toBe("foreign");
    expect(s.counters.dropped.foreign).toBe(1);
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

  it("keeps a VM a move result placed on its destination until that host reports, whatever the source's reports say meanwhile", () => {
    const s = new ClusterState(CLUSTER, opts);
    const v = { uuid: uuid(3), name: "v3" };
    s.ingest(rep("a", [v], 1000), 1000);
    s.ingest(rep("b", [], 1000), 1000);
    s.moveVm(v.uuid, "b", 1500);
    // The source's report collected before the move ended still lists it: not back on the source.
    s.ingest(rep("a", [v], 1600), 1600);
    expect(s.vm("v3")?.host).toBe("b");
    expect(s.alsoOn(v.uuid)).toEqual([]);
    // The source's next report drops it before the destination's lists it: not gone either.
    s.ingest(rep("a", [], 2600), 2600);
    expect(s.vm("v3")?.host).toBe("b");
    expect(s.vmsOn("b").map((e) => e.uuid)).toEqual([v.uuid]);
    s.ingest(rep("b", [v], 2700), 2700);
    expect(s.vm("v3")?.host).toBe("b");
    // Confirmed: from now on the source's listing counts again (both running is shown, not hidden).
    s.ingest(rep("a", [v], 3600), 3600);
    expect(s.alsoOn(v.uuid)).toEqual(["a"]);
  });

  it("believes the reports again once a moved VM's destination has not listed it for a whole unreachable window", () => {
    const s = new ClusterState(CLUSTER, opts);
    const v = { uuid: uuid(4), name: "v4" };
    s.ingest(rep("a", [v], 1000), 1000);
    s.ingest(rep("b", [], 1000), 1000);
    s.moveVm(v.uuid, "b", 1500);
    s.ingest(rep("a", [], 2000), 2000);
    s.ingest(rep("b", [], 2000), 2000);
    expect(s.vm("v4")?.host).toBe("b"); // its report may have been read before the VM landed
    s.ingest(rep("b", [], 4600), 4600); // 3.1 s later (unreachableAfter 3 x 1 s): it is not there
    expect(s.vm("v4")).toBeUndefined();
    // Still listed by the source past that window: the VM is where it is reported.
    const w = { uuid: uuid(5), name: "v5" };
    s.ingest(rep("a", [w], 5000), 5000);
    s.moveVm(w.uuid, "b", 5100);
    s.ingest(rep("a", [w], 5200), 5200);
    expect(s.vm("v5")?.host).toBe("b");
    s.ingest(rep("a", [w], 8200), 8200);
    expect(s.vm("v5")?.host).toBe("a");
    // A destination that falls silent keeps the VM the result placed there until it reports again.
    const x = { uuid: uuid(7), name: "v7" };
    s.ingest(rep("c", [], 9000), 9000);
    s.ingest(rep("a", [w, x], 9000), 9000);
    s.moveVm(x.uuid, "c", 9100);
    s.ingest(rep("a", [w], 10_000), 10_000);
    s.ingest(rep("a", [w], 13_000), 13_000);
    expect(s.vm("v7")?.host).toBe("c");
    s.ingest(rep("c", [], 14_000), 14_000);
    expect(s.vm("v7")).toBeUndefined();
  });

  it("does not take back a VM that moved to another cluster on a report read before it left", () => {
    const s = new ClusterState(CLUSTER, opts);
    const v = { uuid: uuid(6), name: "v6" };
    s.ingest(rep("a", [v], 1000), 1000);
    s.vmLeft(v.uuid, 1500);
    s.ingest(rep("a", [v], 1600), 1600);
    expect(s.vm("v6")).toBeUndefined();
    s.ingest(rep("a", [], 2600), 2600);
    // Moved back later: seen again.
    s.ingest(rep("a", [v], 3600), 3600);
    expect(s.vm("v6")?.host).toBe("a");
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
      id: "meta:anti-affinity:web",
      kind: "vm-anti-affinity",
      vmIds: [uuid(1), uuid(3)],
      hard: true,
    });
    const later = buildSnapshot(s, cfg, 10_000, { inFlight: [], recentFailures: [], lastMoves: new Map() });
    expect(later.hosts.every((h) => h.state === "unreachable")).toBe(true);
  });

  it("hands planning only the newest samples it reads when asked (oldest first), the whole history otherwise", () => {
    const s = new ClusterState(CLUSTER, { ...opts, historySamples: 4 });
    const cfg = config("nats://127.0.0.1:1", "/tmp/unused");
    // Six reports into rings of four: the ring has wrapped, holding samples 3..6 (x 1000 MHz).
    for (let t = 1; t <= 6; t++) s.ingest(rep("a", [{ uuid: uuid(1), name: "v1", cpu: t / 2 }], t * 1000), t * 1000);
    const extras = { inFlight: [], recentFailures: [], lastMoves: new Map() };
    const whole = buildSnapshot(s, cfg, 6000, extras);
    expect(whole.vms[0]!.cpuDemandMhzHistory).toEqual([3000, 4000, 5000, 6000]);
    const cut = buildSnapshot(s, cfg, 6000, { ...extras, historySamples: 3 });
    expect(cut.vms[0]!.cpuDemandMhzHistory).toEqual([4000, 5000, 6000]);
    expect(cut.vms[0]!.memoryDemandMiBHistory).toEqual([256, 256, 256]);
    expect(cut.hosts[0]!.cpuUsageMhzHistory).toHaveLength(3);
    expect(buildSnapshot(s, cfg, 6000, { ...extras, historySamples: 9 }).vms[0]!.cpuDemandMhzHistory).toHaveLength(4);
  });

  it("gathers what planning needs: moves under way and landed, the learned model, failures and last moves from the store", async () => {
    await using dir = await tempDir();
    const store = Store.open({ path: join(dir.path, "s.sqlite") });
    try {
      const s = new ClusterState(CLUSTER, opts);
      const cfg = config("nats://127.0.0.1:1", dir.path, { cooldowns: { failureMs: 60_000, returnMs: 600_000, vmMs: 60_000 } });
      const [v1, v2, v3] = [uuid(1), uuid(2), uuid(3)];
      s.ingest(
        rep(
          "a",
          [
            { uuid: v1, name: "v1" },
            { uuid: v2, name: "v2" },
          ],
          900_000,
        ),
        900_000,
      );
      s.ingest(rep("b", [{ uuid: v3, name: "v3" }], 900_000), 900_000);
      const move = (id: string, vm: string, from: string, to: string, status: "failed" | "succeeded", endedMs: number) =>
        store.migrations.insert({
          id,
          commandId: `c-${id}`,
          vmUuid: vm,
          vmName: vm,
          source: from,
          destination: to,
          requestedBy: "t",
          reason: "t",
          status,
          createdMs: endedMs - 1000,
          endedMs,
          ...(status === "failed" ? { error: { code: "agent.failed", message: "x" } } : {}),
        });
      move("m1", v1, "a", "b", "failed", 890_000); // within failureMs: still cooling down
      move("m2", v2, "a", "b", "failed", 800_000); // older than failureMs: forgotten
      move("m3", v3, "a", "b", "succeeded", 700_000);
      move("m4", v3, "b", "a", "succeeded", 600_000); // the older move of v3: not its last
      s.moveVm(v1, "b", 899_500); // a move's result, before the reports show it
      const inFlight = [{ id: "m5", vmId: v2, sourceHostId: "a", destinationHostId: "b", startedMs: 899_000 }];
      const snap = planningSnapshot(
        {
          state: s,
          config: cfg,
          store,
          moves: {
            inFlightForPolicy: () => inFlight,
            learnedModel: { bandwidthEfficiency: 0.5, setupOverheadMs: 4000, switchoverMs: 300 },
          },
        },
        900_000,
      );
      expect(snap.recentFailures).toEqual([{ vmId: v1, destinationHostId: "b", atMs: 890_000, code: "agent.failed" }]);
      expect(snap.vms.find((v) => v.id === v3)).toMatchObject({ lastMigrationMs: 700_000, previousHostId: "a" });
      expect(snap.vms.find((v) => v.id === v1)?.hostId).toBe("b");
      expect(snap.inFlight).toEqual(inFlight);
      expect(snap.config?.migration).toMatchObject({ bandwidthEfficiency: 0.5, setupOverheadMs: 4000, switchoverMs: 300 });
    } finally {
      store.close();
    }
  });
});
