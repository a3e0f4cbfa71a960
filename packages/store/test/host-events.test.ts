// Host events: the state changes hosts.setState makes and the agents' lifecycle events, in the
// history next to everything else; and the history's host and VM filters.
import { describe, expect, it } from "vitest";
import { Store, StoreError, type HostRow } from "../src/index.js";
import { migration, plan, tempDir, uuid } from "./helpers.js";

const host = (id: string): HostRow => ({
  id,
  cluster: "lab",
  state: "healthy",
  stateReason: null,
  stateSinceMs: 100,
  lastReportMs: 100,
  migrationUri: null,
  wake: null,
  capacity: null,
  updatedMs: 100,
});

describe("host events", () => {
  it("a state change is recorded with the state, a repeated state is not; agent events too; both show as kind host", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    s.hosts.upsert(host("kvm01"));
    s.hosts.setState("kvm01", "draining", "drain requested by api:ops", 200);
    s.hosts.setState("kvm01", "draining", null, 250);
    s.hosts.setState("kvm01", "maintenance", null, 300);
    s.hostEvents.record({ atMs: 400, host: "kvm01", event: "agent-stopping", detail: "SIGTERM" });

    expect(s.hostEvents.list().map((e) => [e.event, e.fromState, e.toState, e.atMs])).toEqual([
      ["agent-stopping", null, null, 400],
      ["state", "draining", "maintenance", 300],
      ["state", "healthy", "draining", 200],
    ]);
    const h = s.history({ kinds: ["host"] });
    expect(h.map((e) => e.summary)).toEqual([
      "host kvm01: agent: agent-stopping (SIGTERM)",
      "host kvm01: draining -> maintenance",
      "host kvm01: healthy -> draining (drain requested by api:ops)",
    ]);
    expect(s.history({ kinds: ["host"], since: 300 }).map((e) => e.atMs)).toEqual([400, 300]);
  });

  it("a refused state change records nothing, and a bad event is refused naming the field", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    expect(() => s.hosts.setState("nope", "standby", null, 100)).toThrow(/no host 'nope'/);
    s.hosts.upsert(host("kvm01"));
    expect(() => s.hosts.setState("kvm01", "asleep" as never, null, 100)).toThrow(StoreError);
    expect(() => s.hostEvents.record({ atMs: 1, host: "kvm01", event: "exploded" as never, detail: "" })).toThrow(/event/);
    expect(s.hostEvents.list()).toEqual([]);
  });

  it("are pruned with the rest of the history and survive a reopen", () => {
    using dir = tempDir();
    const DAY = 86_400_000;
    const now = 10 * DAY;
    {
      using s = Store.open({ path: dir.file(), retentionDays: 1, now: () => now });
      s.hostEvents.record({ atMs: 1 * DAY, host: "kvm01", event: "agent-started", detail: "" });
      s.hostEvents.record({ atMs: 9.5 * DAY, host: "kvm01", event: "libvirt-down", detail: "socket closed" });
      expect(s.prune()).toBe(1);
    }
    using s = Store.open({ path: dir.file() });
    expect(s.hostEvents.list().map((e) => e.event)).toEqual(["libvirt-down"]);
  });
});

describe("history filters", () => {
  it("--host keeps entries that involve the host; --vm those that involve the VM (uuid, or name in plan steps)", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    s.hosts.upsert(host("kvm01"));
    s.hosts.upsert(host("kvm09"));
    s.plans.insert(plan("p1", { createdMs: 200 })); // web1 kvm01 -> kvm02, power-off kvm03
    s.migrations.insert(migration("m1", { planId: "p1", createdMs: 300 })); // web1 kvm01 -> kvm02
    s.migrations.insert(migration("m2", { createdMs: 310, vmUuid: uuid(2), vmName: "db1", source: "kvm09", destination: "kvm01" }));
    s.maintenance.request({ id: "mt1", host: "kvm03", requestedBy: "op", powerOff: false, atMs: 400 });
    s.hosts.setState("kvm09", "standby", null, 500);
    s.config.recordChange({ atMs: 600, who: "op", key: "limits", oldValue: 1, newValue: 2 });
    s.agentCommands.record({
      host: "kvm09",
      commandId: "cmd-m2",
      kind: "migrate",
      issuedBy: "scheduler",
      issuedHere: true,
      vm: uuid(2),
      destination: { host: "kvm01", uri: "qemu+tcp://127.0.1.1/system" },
      outcome: "succeeded",
      duplicate: false,
      error: null,
      agentTimeMs: 700,
      atMs: 700,
    });

    const ids = (q: Parameters<Store["history"]>[0]) => s.history(q).map((e) => `${e.kind}:${e.id}`);
    expect(ids({ host: "kvm09" })).toEqual(["command:cmd-m2", "host:1", "migration:m2"]);
    expect(ids({ host: "kvm03" })).toEqual(["maintenance:mt1", "plan:p1"]);
    expect(ids({ host: "kvm01" })).toEqual(["migration:m2", "migration:m1", "plan:p1"]);
    expect(ids({ vm: uuid(2) })).toEqual(["command:cmd-m2", "migration:m2"]);
    expect(ids({ vm: "web1" })).toEqual(["plan:p1"]);
    expect(ids({ vm: uuid(1), host: "kvm02" })).toEqual(["migration:m1", "plan:p1"]);
    expect(ids({ host: "kvm09", kinds: ["host"] })).toEqual(["host:1"]);
    expect(ids({ host: "nowhere" })).toEqual([]);
  });
});
