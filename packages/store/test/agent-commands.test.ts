import { describe, expect, it } from "vitest";
import { Store, StoreError, type AgentCommandInput } from "../src/index.js";
import { tempDir } from "./helpers.js";

const DAY = 86_400_000;

function cmd(over: Partial<AgentCommandInput> = {}): AgentCommandInput {
  return {
    host: "kvm01",
    commandId: "c-1",
    kind: "power-off",
    issuedBy: "scheduler",
    issuedHere: true,
    vm: null,
    destination: null,
    outcome: "accepted",
    duplicate: false,
    error: null,
    agentTimeMs: 900,
    atMs: 1_000,
    ...over,
  };
}

describe("agent commands", () => {
  it("keeps one row per (host, command id, outcome): a replayed event adds nothing", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    const first = s.agentCommands.record(cmd());
    expect(first).toMatchObject({ seq: 1, host: "kvm01", commandId: "c-1", issuedHere: true, duplicate: false, destination: null });
    expect(s.agentCommands.record(cmd({ atMs: 2_000 }))).toBeNull();
    // The same id on another host, or with another outcome, is another fact.
    expect(s.agentCommands.record(cmd({ host: "kvm02" }))).not.toBeNull();
    expect(s.agentCommands.record(cmd({ outcome: "succeeded", atMs: 3_000 }))).not.toBeNull();
    expect(s.agentCommands.list().map((r) => [r.host, r.outcome, r.atMs])).toEqual([
      ["kvm01", "succeeded", 3_000],
      ["kvm02", "accepted", 1_000],
      ["kvm01", "accepted", 1_000],
    ]);
  });

  it("shows in the history, loudly when this scheduler did not issue the command", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    s.agentCommands.record(
      cmd({
        commandId: "cmd-mig-1",
        kind: "migrate",
        vm: "web1",
        destination: { host: "kvm02", uri: "qemu+tcp://127.0.9.2/system", hostUuid: "4c4c4544-0000-0000-0000-000000000002" },
        atMs: 500,
      }),
    );
    s.agentCommands.record(
      cmd({
        commandId: "x-9",
        issuedBy: "scheduler",
        issuedHere: false,
        outcome: "refused",
        error: { code: "vms-running", message: "2 VMs run here" },
        atMs: 600,
      }),
    );
    s.config.recordChange({ atMs: 550, who: "op", key: "mode", oldValue: 1, newValue: 2 });
    const h = s.history();
    expect(h.map((e) => [e.kind, e.id])).toEqual([
      ["command", "x-9"],
      ["config", "1"],
      ["command", "cmd-mig-1"],
    ]);
    expect(h[0]?.summary).toBe(
      'NOT ISSUED BY THIS SCHEDULER: command power-off x-9 on kvm01: refused: vms-running: 2 VMs run here [issued by "scheduler", unverified]',
    );
    expect(h[2]?.summary).toBe(
      'command migrate cmd-mig-1 on kvm01 of web1 to kvm02 (qemu+tcp://127.0.9.2/system): accepted [issued by "scheduler"]',
    );
    const mig = h[2];
    if (mig?.kind !== "command") throw new Error("expected a command");
    expect(mig.row.destination?.hostUuid).toBe("4c4c4544-0000-0000-0000-000000000002");
    expect(s.history({ kinds: ["command"] }).map((e) => e.id)).toEqual(["x-9", "cmd-mig-1"]);
    expect(s.agentCommands.list({ notIssuedHere: true }).map((r) => r.commandId)).toEqual(["x-9"]);
  });

  it("refuses a malformed row, naming the field, and writes nothing", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    expect(() => s.agentCommands.record(cmd({ kind: "reboot" as never }))).toThrow(/kind must be one of preflight, migrate/);
    expect(() => s.agentCommands.record(cmd({ destination: { host: "kvm02" } as never }))).toThrow(StoreError);
    expect(() => s.agentCommands.record(cmd({ host: "" }))).toThrow(/host must be a non-empty string/);
    expect(s.agentCommands.list()).toEqual([]);
  });

  it("are pruned with the rest of the history and survive a reopen", () => {
    using dir = tempDir();
    let now = 100 * DAY;
    {
      using s = Store.open({ path: dir.file(), retentionDays: 30, now: () => now });
      s.agentCommands.record(cmd({ commandId: "old", atMs: now - 40 * DAY }));
      s.agentCommands.record(cmd({ commandId: "recent", atMs: now - 5 * DAY }));
      expect(s.prune()).toBe(1);
    }
    now += DAY;
    using s = Store.open({ path: dir.file(), retentionDays: 30, now: () => now });
    expect(s.agentCommands.list().map((r) => r.commandId)).toEqual(["recent"]);
  });
});
