import { describe, expect, it } from "vitest";
import { Store } from "../src/index.js";
import { migration, plan, tempDir, uuid } from "./helpers.js";

const DAY = 86_400_000;

describe("history", () => {
  it("merges every kind of record, newest first, with a line for the CLI", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    s.config.recordChange({ atMs: 100, who: "op", key: "mode", oldValue: "recommend", newValue: "automatic" });
    s.plans.insert(plan("p1", { createdMs: 200 }));
    s.migrations.insert(migration("m1", { planId: "p1", createdMs: 300 }));
    s.migrations.update("m1", {
      status: "succeeded",
      measuredDurationMs: 4_200,
      measuredDowntimeMs: 250,
      completedBy: "live",
      endedMs: 4_500,
    });
    s.maintenance.request({ id: "mt1", host: "kvm01", requestedBy: "op", powerOff: true, atMs: 400 });
    s.power.record({ id: "pw1", host: "kvm01", action: "power-off", method: "agent", requestedBy: "op", reason: "maintenance", atMs: 500 });
    s.migrations.insert(migration("m2", { createdMs: 600, vmUuid: uuid(2), vmName: "db1" }));
    s.migrations.update("m2", { status: "failed", error: { code: "preflight-failed", message: "disk cache mode writeback" } });
    // Same time as the power action: order is by kind then id, so it is stable.
    s.config.recordChange({ atMs: 500, who: "op", key: "spare", oldValue: 1, newValue: 2 });

    const h = s.history();
    expect(h.map((e) => [e.kind, e.id, e.atMs])).toEqual([
      ["migration", "m2", 600],
      ["config", "2", 500],
      ["power", "pw1", 500],
      ["maintenance", "mt1", 400],
      ["migration", "m1", 300],
      ["plan", "p1", 200],
      ["config", "1", 100],
    ]);
    expect(h[0]?.summary).toBe(
      "migrate db1 kvm01 -> kvm02: failed: preflight-failed: disk cache mode writeback [scheduler: kvm01 CPU 92% > 80%]",
    );
    expect(h[4]?.summary).toBe("migrate web1 kvm01 -> kvm02: succeeded in 4.2 s, downtime 250 ms [scheduler: kvm01 CPU 92% > 80%]");
    expect(h[3]?.summary).toBe("maintenance kvm01 (power off): draining [op]");
    const first = h[0];
    if (first?.kind !== "migration") throw new Error("expected a migration first");
    expect(first.row.error?.code).toBe("preflight-failed");

    expect(s.history({ limit: 3 }).map((e) => e.id)).toEqual(["m2", "2", "pw1"]);
    expect(s.history({ since: 400 }).map((e) => e.id)).toEqual(["m2", "2", "pw1", "mt1"]);
    expect(s.history({ kinds: ["plan", "config"] }).map((e) => e.id)).toEqual(["2", "p1", "1"]);
  });

  it("a limit takes the newest entries even when one kind dominates", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    for (let i = 0; i < 20; i++) s.migrations.insert(migration(`m${String(i).padStart(2, "0")}`, { createdMs: 1_000 + i * 10 }));
    s.plans.insert(plan("p-new", { createdMs: 5_000 }));
    s.plans.insert(plan("p-old", { createdMs: 10 }));
    expect(s.history({ limit: 3 }).map((e) => e.id)).toEqual(["p-new", "m19", "m18"]);
  });
});

describe("retention", () => {
  it("prunes finished records older than the retention and keeps in-flight and active ones", () => {
    using dir = tempDir();
    let now = 1_000 * DAY;
    using s = Store.open({ path: dir.file(), retentionDays: 30, now: () => now });
    const old = now - 40 * DAY;
    const recent = now - 5 * DAY;

    s.plans.insert(plan("p-old-done", { createdMs: old, status: "done" }));
    s.plans.insert(plan("p-old-applying", { createdMs: old, status: "applying" }));
    s.plans.insert(plan("p-old-running-migration", { createdMs: old, status: "done" }));
    s.plans.insert(plan("p-recent", { createdMs: recent }));
    s.migrations.insert(migration("m-old-done", { createdMs: old, status: "succeeded", endedMs: old + 5_000, planId: "p-old-done" }));
    s.migrations.insert(migration("m-old-inflight", { createdMs: old, status: "running", planId: "p-old-running-migration" }));
    s.migrations.insert(migration("m-old-ended-recently", { createdMs: old, status: "failed", endedMs: recent }));
    s.migrations.insert(migration("m-recent", { createdMs: recent, status: "succeeded", endedMs: recent }));
    s.plans.setStepStatus("p-old-done", 0, "done", "m-old-done");
    s.maintenance.request({ id: "mt-old-returned", host: "kvm01", requestedBy: "op", powerOff: false, atMs: old });
    s.maintenance.update("mt-old-returned", { status: "returned", atMs: old + 1 });
    s.maintenance.request({ id: "mt-old-active", host: "kvm02", requestedBy: "op", powerOff: false, atMs: old });
    s.power.record({
      id: "pw-old-done",
      host: "kvm03",
      action: "wake",
      method: "wol",
      requestedBy: "op",
      reason: "",
      status: "succeeded",
      atMs: old,
    });
    s.power.record({
      id: "pw-old-sent",
      host: "kvm04",
      action: "wake",
      method: "wol",
      requestedBy: "op",
      reason: "",
      status: "sent",
      atMs: old,
    });
    s.config.recordChange({ atMs: old, who: "op", key: "a", oldValue: 1, newValue: 2 });
    s.config.recordChange({ atMs: recent, who: "op", key: "b", oldValue: 1, newValue: 2 });
    s.vms.upsertSeen([
      { uuid: uuid(1), name: "gone", host: "kvm01", state: "running", memoryMiB: 96, vcpus: 1, tags: [], lastSeenMs: old },
      { uuid: uuid(2), name: "here", host: "kvm01", state: "running", memoryMiB: 96, vcpus: 1, tags: [], lastSeenMs: recent },
    ]);

    // p-old-done, m-old-done, mt-old-returned, pw-old-done, config a, vm "gone".
    expect(s.prune()).toBe(6);
    expect(
      s.plans
        .list()
        .map((p) => p.id)
        .sort(),
    ).toEqual(["p-old-applying", "p-old-running-migration", "p-recent"]);
    expect(
      s.migrations
        .list()
        .map((m) => m.id)
        .sort(),
    ).toEqual(["m-old-ended-recently", "m-old-inflight", "m-recent"]);
    expect(s.maintenance.list().map((m) => m.id)).toEqual(["mt-old-active"]);
    expect(s.power.list().map((p) => p.id)).toEqual(["pw-old-sent"]);
    expect(s.config.list().map((c) => c.key)).toEqual(["b"]);
    expect(s.vms.list().map((v) => v.name)).toEqual(["here"]);
    expect(s.prune()).toBe(0);

    // Time passes: everything finished is now old; what is open still stays.
    now += 60 * DAY;
    s.prune();
    expect(s.migrations.list().map((m) => m.id)).toEqual(["m-old-inflight"]);
    expect(
      s.plans
        .list()
        .map((p) => p.id)
        .sort(),
    ).toEqual(["p-old-applying", "p-old-running-migration"]);
    expect(s.maintenance.list().map((m) => m.id)).toEqual(["mt-old-active"]);
    expect(s.power.list().map((p) => p.id)).toEqual(["pw-old-sent"]);
  });

  it("keeps everything with an infinite retention", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file(), retentionDays: Infinity, now: () => 1_000 * DAY });
    s.config.recordChange({ atMs: 0, who: "op", key: "a", oldValue: 1, newValue: 2 });
    expect(s.prune()).toBe(0);
    expect(s.config.list()).toHaveLength(1);
  });
});
