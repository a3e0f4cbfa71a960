import { describe, expect, it } from "vitest";
import { Store, type HostRow, type VmSeenRow } from "../src/index.js";
import { migration, plan, tempDir, uuid } from "./helpers.js";

function withStore(fn: (store: Store) => void): void {
  using dir = tempDir();
  using store = Store.open({ path: dir.file() });
  fn(store);
}

const host = (id: string, over: Partial<HostRow> = {}): HostRow => ({
  id,
  cluster: "lab",
  state: "healthy",
  stateReason: null,
  stateSinceMs: 100,
  lastReportMs: 100,
  migrationUri: `qemu+tcp://127.0.1.1/system`,
  wake: [{ method: "wol", mac: "02:00:00:00:00:01", address: "127.0.1.1", port: 9 }],
  capacity: { cpus: 4, mhz: 2400, memoryMiB: 8192, cpuModel: "qemu64" },
  updatedMs: 100,
  ...over,
});

const vm = (n: number, over: Partial<VmSeenRow> = {}): VmSeenRow => ({
  uuid: uuid(n),
  name: `vm${n}`,
  host: "kvm01",
  state: "running",
  memoryMiB: 96,
  vcpus: 1,
  tags: ["web"],
  lastSeenMs: 1_000,
  ...over,
});

describe("hosts", () => {
  it("round-trips a row with its JSON columns", () =>
    withStore((s) => {
      const h = host("kvm01");
      s.hosts.upsert(h);
      expect(s.hosts.get("kvm01")).toEqual(h);
      s.hosts.upsert({ ...h, state: "standby", updatedMs: 200 });
      expect(s.hosts.list()).toEqual([{ ...h, state: "standby", updatedMs: 200 }]);
      expect(s.hosts.get("nope")).toBeUndefined();
      expect(s.hosts.remove("kvm01")).toBe(true);
      expect(s.hosts.remove("kvm01")).toBe(false);
      expect(s.hosts.list()).toEqual([]);
    }));

  it("a report refreshes what the agent knows and leaves the scheduler's state alone", () =>
    withStore((s) => {
      s.hosts.reported({
        id: "kvm01",
        cluster: "lab",
        atMs: 100,
        migrationUri: "qemu+tcp://127.0.1.1/system",
        wake: [],
        capacity: { cpus: 2 },
      });
      expect(s.hosts.get("kvm01")).toMatchObject({ state: "healthy", stateSinceMs: 100, lastReportMs: 100 });
      s.hosts.setState("kvm01", "draining", "drain requested by op", 150);
      s.hosts.reported({
        id: "kvm01",
        cluster: "lab",
        atMs: 200,
        migrationUri: "qemu+tcp://127.0.1.1/system",
        wake: [],
        capacity: { cpus: 4 },
      });
      // A report that arrives late does not move lastReportMs back.
      s.hosts.reported({
        id: "kvm01",
        cluster: "lab",
        atMs: 180,
        migrationUri: "qemu+tcp://127.0.1.1/system",
        wake: [],
        capacity: { cpus: 4 },
      });
      expect(s.hosts.get("kvm01")).toMatchObject({
        state: "draining",
        stateReason: "drain requested by op",
        stateSinceMs: 150,
        lastReportMs: 200,
        capacity: { cpus: 4 },
      });
    }));

  it("setState moves stateSinceMs only on a change, and names an unknown host or state", () =>
    withStore((s) => {
      s.hosts.upsert(host("kvm01"));
      s.hosts.setState("kvm01", "unreachable", "no report for 30 s", 500);
      s.hosts.setState("kvm01", "unreachable", "no report for 60 s", 530);
      expect(s.hosts.get("kvm01")).toMatchObject({
        state: "unreachable",
        stateReason: "no report for 60 s",
        stateSinceMs: 500,
        updatedMs: 530,
      });
      expect(() => s.hosts.setState("kvm09", "healthy", null, 1)).toThrowError(expect.objectContaining({ code: "not-found" }));
      expect(() => s.hosts.setState("kvm01", "asleep" as never, null, 1)).toThrowError(
        /hosts.setState: state must be one of healthy, draining, maintenance, standby, waking, unreachable, powering-off, got "asleep"/,
      );
    }));
});

describe("vms", () => {
  it("upserts a report's VMs in one batch and lists them", () =>
    withStore((s) => {
      s.vms.upsertSeen([vm(1), vm(2), vm(3, { host: "kvm02" })]);
      expect(s.vms.list().map((v) => v.name)).toEqual(["vm1", "vm2", "vm3"]);
      expect(s.vms.list({ host: "kvm02" })).toEqual([vm(3, { host: "kvm02" })]);
      s.vms.upsertSeen([vm(1, { host: "kvm02", lastSeenMs: 2_000, tags: [] })]);
      expect(s.vms.get(uuid(1))).toEqual(vm(1, { host: "kvm02", lastSeenMs: 2_000, tags: [] }));
      expect(s.vms.remove(uuid(2))).toBe(true);
      expect(s.vms.list().map((v) => `${v.host}/${v.name}`)).toEqual(["kvm02/vm1", "kvm02/vm3"]);
    }));

  it("ignores a late report that would move a VM back to where it was", () =>
    withStore((s) => {
      s.vms.upsertSeen([vm(1, { host: "kvm02", lastSeenMs: 2_000 })]);
      s.vms.upsertSeen([vm(1, { host: "kvm01", lastSeenMs: 1_500 })]);
      expect(s.vms.get(uuid(1))?.host).toBe("kvm02");
    }));

  it("rolls the whole batch back when one row is bad, naming it", () =>
    withStore((s) => {
      expect(() => s.vms.upsertSeen([vm(1), vm(2, { vcpus: 1.5 })])).toThrowError(
        /vms.upsertSeen: \[1\].vcpus must be a non-negative integer, got 1.5/,
      );
      expect(s.vms.list()).toEqual([]);
    }));
});

describe("plans", () => {
  it("round-trips a plan with its steps", () =>
    withStore((s) => {
      const p = plan("p1");
      s.plans.insert(p);
      const got = s.plans.get("p1");
      expect(got).toEqual({
        ...p,
        status: "proposed",
        statusMs: p.createdMs,
        decidedBy: null,
        steps: [
          { ...p.steps[0], host: null, status: "pending", migrationId: null },
          {
            ...p.steps[1],
            vmUuid: null,
            vmName: null,
            source: null,
            destination: null,
            predictedDurationMs: null,
            predictedDowntimeMs: null,
            detail: null,
            status: "pending",
            migrationId: null,
          },
        ],
      });
    }));

  it("links steps to migrations and tracks status; a finished plan stays finished", () =>
    withStore((s) => {
      s.plans.insert(plan("p1"));
      s.migrations.insert(migration("m1", { planId: "p1" }));
      s.plans.setStatus("p1", "applying", 1_100);
      s.plans.setStepStatus("p1", 0, "dispatched", "m1");
      s.plans.setStepStatus("p1", 0, "done");
      const p = s.plans.get("p1");
      expect(p).toMatchObject({ status: "applying", statusMs: 1_100 });
      expect(p?.steps[0]).toMatchObject({ status: "done", migrationId: "m1" });
      s.plans.setStatus("p1", "done", 1_200);
      expect(() => s.plans.setStatus("p1", "applying", 1_300)).toThrowError(expect.objectContaining({ code: "invalid-transition" }));
      expect(() => s.plans.setStepStatus("p1", 7, "done")).toThrowError(expect.objectContaining({ code: "not-found" }));
      expect(() => s.plans.setStepStatus("p1", 1, "dispatched", "m-unknown")).toThrowError(expect.objectContaining({ code: "conflict" }));
    }));

  it("inserts plan and steps atomically: a bad step leaves no plan", () =>
    withStore((s) => {
      const bad = plan("p1");
      bad.steps.push({ index: 1, action: "migrate", reason: "duplicate index" });
      expect(() => s.plans.insert(bad)).toThrowError(expect.objectContaining({ code: "conflict" }));
      expect(s.plans.get("p1")).toBeUndefined();
      expect(() => s.plans.insert(plan("p2", { mode: "yolo" as never }))).toThrowError(
        /plans.insert: mode must be one of recommend, automatic, manual, dry-run/,
      );
      expect(() => s.plans.insert(plan("p3", { steps: [{ index: 0, action: "teleport" as never, reason: "" }] }))).toThrowError(
        /steps\[0\].action must be one of/,
      );
    }));

  it("lists newest first, by status, with a limit", () =>
    withStore((s) => {
      for (let i = 0; i < 5; i++) s.plans.insert(plan(`p${i}`, { createdMs: 1_000 + i, status: i % 2 === 0 ? "proposed" : "rejected" }));
      expect(s.plans.list().map((p) => p.id)).toEqual(["p4", "p3", "p2", "p1", "p0"]);
      expect(s.plans.list({ limit: 2 }).map((p) => p.id)).toEqual(["p4", "p3"]);
      expect(s.plans.list({ status: "rejected" }).map((p) => p.id)).toEqual(["p3", "p1"]);
      expect(s.plans.list({ status: "proposed", since: 1_001 }).map((p) => p.id)).toEqual(["p4", "p2"]);
    }));
});

describe("migrations", () => {
  it("records prediction and measurement, finds by command id, lists by VM and host", () =>
    withStore((s) => {
      s.migrations.insert(migration("m1", { predictedDurationMs: 4_000, predictedDowntimeMs: 300, strategy: "live" }));
      s.migrations.insert(migration("m2", { vmUuid: uuid(2), vmName: "db1", source: "kvm02", destination: "kvm03", createdMs: 2_000 }));
      const done = s.migrations.update("m1", {
        status: "succeeded",
        startedMs: 1_010,
        endedMs: 5_010,
        measuredDurationMs: 4_000,
        measuredDowntimeMs: 250,
        bytesMoved: 104_857_600,
        completedBy: "raise-downtime",
        escalations: ["raise-downtime:500"],
        atMs: 5_010,
      });
      expect(done).toMatchObject({
        status: "succeeded",
        predictedDurationMs: 4_000,
        measuredDowntimeMs: 250,
        escalations: ["raise-downtime:500"],
        updatedMs: 5_010,
      });
      expect(s.migrations.get("m1")).toEqual(done);
      expect(s.migrations.byCommandId("cmd-m2")?.id).toBe("m2");
      expect(s.migrations.list({ vm: uuid(2) }).map((m) => m.id)).toEqual(["m2"]);
      expect(s.migrations.list({ host: "kvm02" }).map((m) => m.id)).toEqual(["m2", "m1"]);
      expect(s.migrations.list({ since: 1_500 }).map((m) => m.id)).toEqual(["m2"]);
      expect(s.migrations.inFlight().map((m) => m.id)).toEqual(["m2"]);
    }));

  it("refuses to revive a finished migration and to reuse a command id", () =>
    withStore((s) => {
      s.migrations.insert(migration("m1"));
      s.migrations.update("m1", { status: "failed", error: { code: "preflight", message: "cache mode writeback" }, endedMs: 1_200 });
      expect(() => s.migrations.update("m1", { status: "running" })).toThrowError(
        expect.objectContaining({ code: "invalid-transition", message: expect.stringContaining("already ended as failed") }),
      );
      // Details of a finished one may still be filled in; undefined leaves a field alone, null clears it.
      const m = s.migrations.update("m1", { measuredDurationMs: 200, error: undefined, strategy: null });
      expect(m).toMatchObject({ measuredDurationMs: 200, error: { code: "preflight" }, strategy: null, endedMs: 1_200 });
      expect(s.migrations.update("m1", { error: null }).error).toBeNull();
      expect(() => s.migrations.insert(migration("m2", { commandId: "cmd-m1" }))).toThrowError(
        expect.objectContaining({ code: "conflict" }),
      );
      expect(() => s.migrations.insert(migration("m3", { planId: "no-such-plan" }))).toThrowError(
        expect.objectContaining({ code: "conflict" }),
      );
      expect(() => s.migrations.update("m9", {})).toThrowError(expect.objectContaining({ code: "not-found" }));
      expect(() => s.migrations.update("m1", { error: { message: "no code" } as never })).toThrowError(
        /error must be an object \{ code, message \}/,
      );
    }));

  it("records how many moves shared a migration's hosts, 1 unless told, and refuses a count below 1", () =>
    withStore((s) => {
      s.migrations.insert(migration("m1", { strategy: "live" }));
      expect(s.migrations.get("m1")).toMatchObject({ strategy: "live", concurrent: 1 });
      expect(s.migrations.update("m1", { status: "dispatched", concurrent: 3 })).toMatchObject({ strategy: "live", concurrent: 3 });
      expect(s.migrations.update("m1", { status: "running" }).concurrent).toBe(3);
      s.migrations.insert(migration("m2", { commandId: "cmd-m2", concurrent: 2 }));
      expect(s.migrations.get("m2")?.concurrent).toBe(2);
      expect(() => s.migrations.update("m1", { concurrent: 0 })).toThrowError(/concurrent must be an integer of at least 1/);
      expect(() => s.migrations.update("m1", { concurrent: 1.5 })).toThrowError(/concurrent must be an integer of at least 1/);
      expect(() => s.migrations.insert(migration("m3", { concurrent: -1 }))).toThrowError(/concurrent must be an integer of at least 1/);
      expect(s.migrations.get("m1")?.concurrent).toBe(3);
      expect(s.migrations.get("m3")).toBeUndefined();
    }));

  it("lastFailure finds the latest failed move of that VM to that destination", () =>
    withStore((s) => {
      s.migrations.insert(migration("m1", { status: "failed", endedMs: 1_100 }));
      s.migrations.insert(migration("m2", { status: "timed-out", endedMs: 3_100, createdMs: 3_000 }));
      s.migrations.insert(migration("m3", { status: "succeeded", endedMs: 4_100, createdMs: 4_000 }));
      s.migrations.insert(migration("m4", { status: "aborted", destination: "kvm03", endedMs: 5_100, createdMs: 5_000 }));
      expect(s.migrations.lastFailure(uuid(1), "kvm02")?.id).toBe("m2");
      expect(s.migrations.lastFailure(uuid(1), "kvm03")?.id).toBe("m4");
      expect(s.migrations.lastFailure(uuid(2), "kvm02")).toBeUndefined();
    }));
});

describe("maintenance, power, config", () => {
  it("allows one active maintenance per host and closes it with an end time", () =>
    withStore((s) => {
      const m = s.maintenance.request({ id: "mt1", host: "kvm01", requestedBy: "op", powerOff: true, atMs: 100 });
      expect(m).toMatchObject({ status: "draining", powerOff: true, blockers: null, endedMs: null });
      expect(() => s.maintenance.request({ id: "mt2", host: "kvm01", requestedBy: "bob", powerOff: false, atMs: 110 })).toThrowError(
        expect.objectContaining({
          code: "conflict",
          message: expect.stringContaining("kvm01 already has maintenance 'mt1' (draining, requested by op)"),
        }),
      );
      const blockers = [{ vm: "db1", reason: "local disk /var/lib/libvirt/images/db1.qcow2" }];
      expect(s.maintenance.update("mt1", { status: "blocked", blockers, atMs: 120 })).toMatchObject({ status: "blocked", blockers });
      expect(s.maintenance.update("mt1", { status: "cancelled", atMs: 130 })).toMatchObject({
        status: "cancelled",
        endedMs: 130,
        blockers,
      });
      expect(s.maintenance.active("kvm01")).toBeUndefined();
      expect(() => s.maintenance.update("mt1", { status: "draining" })).toThrowError(
        expect.objectContaining({ code: "invalid-transition" }),
      );
      s.maintenance.request({ id: "mt2", host: "kvm01", requestedBy: "bob", powerOff: false, atMs: 140 });
      expect(s.maintenance.active("kvm01")?.id).toBe("mt2");
      expect(s.maintenance.allActive().map((r) => r.id)).toEqual(["mt2"]);
      expect(s.maintenance.list().map((r) => r.id)).toEqual(["mt2", "mt1"]);
    }));

  it("records power actions and their outcome", () =>
    withStore((s) => {
      s.power.record({
        id: "pw1",
        host: "kvm03",
        action: "power-off",
        method: "agent",
        requestedBy: "consolidate",
        reason: "empty",
        atMs: 100,
      });
      s.power.record({
        id: "pw2",
        host: "kvm03",
        action: "wake",
        method: "wol",
        requestedBy: "scheduler",
        reason: "morning peak",
        atMs: 200,
      });
      expect(s.power.open().map((p) => p.id)).toEqual(["pw1", "pw2"]);
      s.power.update("pw1", { status: "succeeded", atMs: 150 });
      const failed = s.power.update("pw2", {
        status: "failed",
        error: { code: "timeout", message: "no report 300 s after wake" },
        atMs: 500,
      });
      expect(failed).toMatchObject({ status: "failed", error: { code: "timeout" }, createdMs: 200, updatedMs: 500 });
      expect(s.power.list({ host: "kvm03" }).map((p) => p.id)).toEqual(["pw2", "pw1"]);
      expect(s.power.open()).toEqual([]);
      expect(() => s.power.update("pw1", { status: "sent" })).toThrowError(expect.objectContaining({ code: "invalid-transition" }));
      expect(() =>
        s.power.record({ id: "pw3", host: "kvm03", action: "reboot" as never, method: "x", requestedBy: "x", reason: "", atMs: 1 }),
      ).toThrowError(/power.record: action must be one of power-off, wake/);
    }));

  it("records configuration changes with JSON values", () =>
    withStore((s) => {
      s.config.recordChange({ atMs: 100, who: "op", key: "policy.balance.cpuHigh", oldValue: 0.8, newValue: 0.75 });
      const c = s.config.recordChange({ atMs: 200, who: "op", key: "limits", oldValue: null, newValue: { perSource: 2 } });
      expect(c).toMatchObject({ atMs: 200, key: "limits", oldValue: null, newValue: { perSource: 2 } });
      expect(s.config.list().map((r) => r.key)).toEqual(["limits", "policy.balance.cpuHigh"]);
      expect(s.config.list({ key: "limits" })).toEqual([c]);
    }));

  it("rolls back everything inside a failed transaction", () =>
    withStore((s) => {
      expect(() =>
        s.transaction(() => {
          s.plans.insert(plan("p1"));
          s.migrations.insert(migration("m1", { planId: "p1" }));
          throw new Error("dispatcher changed its mind");
        }),
      ).toThrowError("dispatcher changed its mind");
      expect(s.plans.get("p1")).toBeUndefined();
      expect(s.migrations.get("m1")).toBeUndefined();
      expect(s.transaction(() => (s.plans.insert(plan("p1")), s.plans.list().length))).toBe(1);
    }));
});

describe("tokens", () => {
  const hash = (c: string) => c.repeat(64);
  it("stores a token by its hash, revokes it once and keeps its name taken", () =>
    withStore((s) => {
      const t = s.tokens.create({ name: "alice", role: "operator", hash: hash("a"), createdMs: 10 });
      expect(t).toEqual({
        name: "alice",
        role: "operator",
        hash: hash("a"),
        createdMs: 10,
        lastUsedMs: null,
        revokedMs: null,
        expiresMs: null,
      });
      expect(s.tokens.byHash(hash("a"))).toEqual(t);
      expect(s.tokens.byHash(hash("b"))).toBeUndefined();
      s.tokens.touch("alice", 20);
      expect(s.tokens.get("alice")?.lastUsedMs).toBe(20);
      expect(s.tokens.revoke("alice", 30).revokedMs).toBe(30);
      expect(s.tokens.revoke("alice", 40).revokedMs).toBe(30);
      expect(() => s.tokens.create({ name: "alice", role: "viewer", hash: hash("c"), createdMs: 50 })).toThrow(/alice.*already exists/);
      expect(() => s.tokens.revoke("bob", 50)).toThrow(/no token named 'bob'/);
      expect(s.tokens.list().map((x) => x.name)).toEqual(["alice"]);
    }));

  it("keeps when a token expires, which must come after its creation", () =>
    withStore((s) => {
      expect(s.tokens.create({ name: "ci", role: "viewer", hash: hash("d"), createdMs: 10, expiresMs: 1000 }).expiresMs).toBe(1000);
      expect(s.tokens.byHash(hash("d"))?.expiresMs).toBe(1000);
      expect(() => s.tokens.create({ name: "late", role: "viewer", hash: hash("e"), createdMs: 10, expiresMs: 10 })).toThrow(
        /expiresMs must be after createdMs/,
      );
      expect(() => s.tokens.create({ name: "bad", role: "viewer", hash: hash("f"), createdMs: 10, expiresMs: -1 })).toThrow(/expiresMs/);
      expect(s.tokens.list().map((x) => x.name)).toEqual(["ci"]);
    }));

  it("refuses a bad role or a hash that is not a SHA-256, naming the field", () =>
    withStore((s) => {
      expect(() => s.tokens.create({ name: "x", role: "root" as never, hash: hash("a"), createdMs: 1 })).toThrow(/role must be one of/);
      expect(() => s.tokens.create({ name: "x", role: "admin", hash: "secret", createdMs: 1 })).toThrow(/hash must be a SHA-256/);
      expect(s.tokens.list()).toEqual([]);
    }));
});

describe("rowsChanged", () => {
  it("counts rows written, not rows read, nor a write that failed", () =>
    withStore((s) => {
      const start = s.rowsChanged;
      s.hosts.upsert(host("kvm01"));
      s.vms.upsertSeen([vm(1), vm(2)]);
      const written = s.rowsChanged;
      expect(written - start).toBe(3);
      s.hosts.list();
      s.vms.list();
      s.plans.list({ limit: 1 });
      expect(() => s.plans.setStatus("no-such-plan", "rejected", 100)).toThrow();
      expect(s.rowsChanged).toBe(written);
    }));
});
