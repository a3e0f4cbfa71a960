// Fault case 3 (issue 11): the source agent is killed (SIGKILL) at ~20 % of a real live migration
// and started again as systemd would. libvirt runs a peer-to-peer migration by itself, so the
// restarted agent must find the job (or its outcome) and report it by the same command id; the
// scheduler must neither abort a healthy job nor send it again, and record one outcome that is the
// truth (where the guest's QEMU runs, from the lab's process table).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { migrations, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import type { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines as logLines, eachGuestOnOneHostTicking, twoHostFaultLab, waitPlannable } from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];

beforeAll(async () => {
  d = await twoHostFaultLab({ net: 36 });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

const agentLogLines = (host: string, ...texts: string[]) => logLines(d, host, ...texts);

describe("source agent killed mid-migration and restarted", () => {
  it("reports the move by the same command id; one truthful outcome, nothing sent twice, the cluster plannable again", async () => {
    const t0 = Date.now();
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    const at20 = await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
        if ((x.progress?.fraction ?? 0) < 0.2) throw new Error(`waiting for 20 % of the move: ${x.state} ${JSON.stringify(x.progress)}`);
        return x;
      },
      { timeout: 120_000, interval: 100 },
    );
    expect(at20.state).toBe("running");
    const killedAgent = d.lab.host("h1").agent?.pid;
    await d.lab.kill("agent", "h1");
    expect(d.lab.host("h1").agent?.running).toBe(false);
    // systemd's RestartSec: the agent is down for a moment, the job goes on in libvirt.
    await new Promise((r) => setTimeout(r, 2000));
    await d.lab.restart("agent", "h1");
    expect(d.lab.host("h1").agent?.pid).not.toBe(killedAgent);

    const done = await waitMigrationDone(d.api, m.id, 300_000);
    const where = await d.hostOf("vm1");
    // The record is the truth: where vm1's QEMU runs now.
    if (where === "h2") {
      expect(done.state, JSON.stringify(done)).toBe("succeeded");
      expect(done.error).toBeNull();
      expect(done.vmRunningOn).toBe("h2");
      expect(done.measuredDurationMs).not.toBeNull();
    } else {
      expect(where).toBe("h1");
      expect(done.state, JSON.stringify(done)).toBe("failed");
      expect(done.error?.code).toBe("migration-interrupted");
    }
    expect(done.error?.code).not.toBe("unknown-command");

    // Exactly one move of vm1, with one outcome, and its command reached an agent once.
    const all = await migrations(d.api);
    expect(all.filter((x) => x.vm === "vm1").map((x) => x.id)).toEqual([m.id]);
    expect(await agentLogLines("h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);
    expect(await agentLogLines("h2", done.commandId)).toHaveLength(0);
    // Nor was the healthy job aborted.
    expect(await agentLogLines("h1", '"kind":"abort"', '"command received"')).toHaveLength(0);
    // The restarted agent answered for the job it found (recovered, same ids).
    expect((await agentLogLines("h1", "recovered migration ended")).join("\n")).toContain(done.id);

    // Every guest runs on exactly one host and keeps ticking.
    await eachGuestOnOneHostTicking(d, guests);

    // Plannable again: both hosts healthy, nothing in flight, and a new move of the same VM is
    // admitted (no failure cool-down charged for a pair that works) and runs to its end.
    await waitPlannable(d);
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: where === "h2" ? "h1" : "h2" });
    const backDone = await waitMigrationDone(d.api, back.id, 300_000);
    expect(backDone.state, JSON.stringify(backDone.error)).toBe("succeeded");
    console.log(`fault case 3: move ended ${done.state} after ${((done.endedAtMs ?? 0) - t0) / 1000} s`);
  });
});
