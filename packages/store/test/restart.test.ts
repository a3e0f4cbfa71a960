import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Store } from "../src/index.js";
import { migration, plan, tempDir, uuid } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));

describe("restart", () => {
  it("reopening a file keeps every kind of record", () => {
    using dir = tempDir();
    const file = dir.file();
    const before = (() => {
      using s = Store.open({ path: file });
      s.hosts.reported({
        id: "kvm01",
        cluster: "lab",
        atMs: 100,
        migrationUri: "qemu+tcp://127.0.1.1/system",
        wake: [],
        capacity: { cpus: 2 },
      });
      s.vms.upsertSeen([
        { uuid: uuid(1), name: "web1", host: "kvm01", state: "running", memoryMiB: 96, vcpus: 1, tags: ["web"], lastSeenMs: 100 },
      ]);
      s.plans.insert(plan("p1"));
      s.migrations.insert(migration("m1", { planId: "p1" }));
      s.maintenance.request({ id: "mt1", host: "kvm01", requestedBy: "op", powerOff: false, atMs: 110 });
      s.power.record({ id: "pw1", host: "kvm03", action: "power-off", method: "agent", requestedBy: "op", reason: "empty", atMs: 120 });
      s.config.recordChange({ atMs: 130, who: "op", key: "retentionDays", oldValue: 90, newValue: 30 });
      return {
        hosts: s.hosts.list(),
        vms: s.vms.list(),
        plans: s.plans.list(),
        migrations: s.migrations.list(),
        maintenance: s.maintenance.list(),
        power: s.power.list(),
        config: s.config.list(),
        history: s.history(),
      };
    })();
    expect(before.history).toHaveLength(5);

    using s = Store.open({ path: file });
    expect({
      hosts: s.hosts.list(),
      vms: s.vms.list(),
      plans: s.plans.list(),
      migrations: s.migrations.list(),
      maintenance: s.maintenance.list(),
      power: s.power.list(),
      config: s.config.list(),
      history: s.history(),
    }).toEqual(before);
  });

  it("the in-flight view survives a crash of the process that wrote it", () => {
    using dir = tempDir();
    const file = dir.file();
    const child = spawnSync(process.execPath, ["--import", "tsx", join(here, "fixtures/crash-writer.ts"), file], { encoding: "utf8" });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    // The writes are in the WAL, never checkpointed: opening again must recover them.
    expect(existsSync(`${file}-wal`)).toBe(true);

    using s = Store.open({ path: file });
    const inFlight = s.migrations.inFlight();
    expect(inFlight.map((m) => [m.id, m.status, m.commandId])).toEqual([
      ["m1", "running", "cmd-m1"],
      ["m2", "dispatched", "cmd-m2"],
    ]);
    // What the reconciler does with an agent's answer: the migration finished while we were down.
    s.migrations.update("m1", { status: "succeeded", endedMs: 4_000, measuredDurationMs: 2_990, atMs: 4_100 });
    expect(s.migrations.inFlight().map((m) => m.id)).toEqual(["m2"]);
    expect(s.maintenance.active("kvm01")).toMatchObject({ id: "mt1", powerOff: true });
    expect(s.power.open().map((p) => p.id)).toEqual(["pw1"]);
  });

  it("a second Store on the same file sees the first one's committed writes, never uncommitted ones", () => {
    using dir = tempDir();
    const file = dir.file();
    using writer = Store.open({ path: file });
    using reader = Store.open({ path: file });
    writer.migrations.insert(migration("m1"));
    expect(reader.migrations.get("m1")?.status).toBe("pending");

    writer.transaction(() => {
      writer.migrations.update("m1", { status: "running", atMs: 1_500 });
      writer.plans.insert(plan("p1"));
      // WAL: the reader is not blocked and still sees the last committed state.
      expect(reader.migrations.get("m1")?.status).toBe("pending");
      expect(reader.plans.get("p1")).toBeUndefined();
    });
    expect(reader.migrations.get("m1")?.status).toBe("running");
    expect(reader.plans.get("p1")?.steps).toHaveLength(2);

    // And the other way round: both may write, one after the other.
    reader.config.recordChange({ atMs: 2_000, who: "cli", key: "mode", oldValue: "recommend", newValue: "automatic" });
    expect(writer.config.list()).toHaveLength(1);
  });

  it("a writer waits for another connection's write lock instead of failing at once", () => {
    using dir = tempDir();
    const file = dir.file();
    using a = Store.open({ path: file });
    using b = Store.open({ path: file, busyTimeoutMs: 0 });
    // With no wait allowed, b's write fails while a holds the lock: proof the lock is real, and
    // that the busy timeout is what makes the default configuration wait.
    a.transaction(() => {
      a.plans.insert(plan("p1"));
      expect(() => b.plans.insert(plan("p2"))).toThrowError(/locked|busy/i);
    });
    b.plans.insert(plan("p2"));
    expect(
      a.plans
        .list()
        .map((p) => p.id)
        .sort(),
    ).toEqual(["p1", "p2"]);
  });
});
