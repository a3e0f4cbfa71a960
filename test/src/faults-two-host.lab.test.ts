// Fault cases 5, 3 and 1 of issue 11, and the source's libvirtd lost, on one two-host lab (twoHostFaultLab: vm1 with a working set
// on h1, vm2 a bystander on h2). Each case starts a real migration or drain, injects its fault
// mid-copy and checks the guests, the one recorded outcome, the command ids in the agents' logs and
// that the cluster is plannable again. The cases share the lab (a lab start is a large part of a
// case's time on a 2-core machine); after each, restoreHomes() puts vm1 back on h1 and asserts the
// lab is as it was first started, and every check about recorded moves looks only at the moves the
// case made. Agent logs are not reset: a check that no abort was ever received covers all cases.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMaintenance, ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import type { DroverLab } from "./helpers/drover-lab.js";
import {
  agentLogLines,
  eachGuestOnOneHostTicking,
  moveIds,
  movesSince,
  restoreHomes,
  twoHostFaultLab,
  waitPlannable,
  waitProgress,
} from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];
const HOME = { vm1: "h1", vm2: "h2" };

beforeAll(async () => {
  d = await twoHostFaultLab({ net: 36, failureCooldownMs: 5000 });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

describe("faults on the two-host lab", () => {
  // Case 5: nats-server goes down in the middle of a drain and comes back. The move under way ends
  // while NATS is down, so its result is published with no server to take it: the agent keeps it
  // (journal) and stores it in the results stream once NATS is back, and the scheduler, which must
  // not time the move out meanwhile, records it once with its measurements.
  it("nats-server down and restarted during a drain: the drain completes; the result published while NATS was down is recorded once with its measurements", async () => {
    const before = await moveIds(d);
    const t0 = Date.now();
    const drain = await call(d.api, "POST", "/v1/hosts/h1/drain", ApiMaintenance, { powerOff: false });
    const first = await vi.waitFor(
      async () => {
        const x = (await movesSince(d, before)).find((m) => m.state === "running" && (m.progress?.fraction ?? 0) >= 0.1);
        if (!x) throw new Error("waiting for a drain move at 10 %");
        return x;
      },
      { timeout: 120_000, interval: 100 },
    );

    await d.lab.kill("nats");
    const downAt = Date.now();
    // Down until the move has ended on the agent and its result could not be stored.
    await vi.waitFor(
      async () => {
        if ((await agentLogLines(d, "h1", first.id, "migration result not stored yet")).length === 0)
          throw new Error(`waiting for ${first.id} to end on h1 while NATS is down`);
      },
      { timeout: 180_000, interval: 500 },
    );
    await d.lab.restart("nats");
    const backAt = Date.now();

    const done = await waitMigrationDone(d.api, first.id, 120_000);
    const m = await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/maintenance/${drain.id}`, ApiMaintenance);
        if (x.state !== "in-maintenance") throw new Error(`waiting for the drain to finish: ${x.state}, ${x.vmsLeft} VMs left`);
        return x;
      },
      { timeout: 300_000, interval: 1000 },
    );
    expect(m.vmsLeft).toBe(0);

    // The move that ended while NATS was down: one outcome, the agent's, with what it measured.
    expect(done.state, JSON.stringify(done)).toBe("succeeded");
    expect(done.error).toBeNull();
    expect(done.vmRunningOn).toBe("h2");
    expect(done.measuredDurationMs, JSON.stringify(done)).not.toBeNull();
    // The agent owed it across the outage and the stream took it once it was back.
    expect((await agentLogLines(d, "h1", first.id, "migration result stored")).length).toBe(1);

    // Every move has one outcome with its cause and what was measured; each guest's last move
    // succeeded (one that failed for another reason was tried again as a new move, never resent).
    const all = await movesSince(d, before);
    for (const x of all.filter((y) => y.startedAtMs !== null)) {
      expect(["succeeded", "failed", "aborted"], JSON.stringify(x)).toContain(x.state);
      expect(x.error === null, JSON.stringify(x)).toBe(x.state === "succeeded");
      expect(x.measuredDurationMs, `${x.id} measured`).not.toBeNull();
    }
    for (const g of ["vm1"]) {
      const ran = all.filter((x) => x.vm === g && x.startedAtMs !== null && x.state !== "cancelled");
      // Newest first, as the API lists them.
      expect(ran[0]?.state, `${g}: ${JSON.stringify(ran)}`).toBe("succeeded");
    }
    expect(new Set(all.map((x) => x.commandId)).size).toBe(all.length);
    for (const x of all) {
      const received = await agentLogLines(d, "h1", `"${x.commandId}"`, '"command received"');
      // Sent at most once; a move that ran was sent exactly once.
      expect(received.length, `${x.id} ${x.state}: ${x.commandId} received`).toBe(
        x.startedAtMs === null ? Math.min(received.length, 1) : 1,
      );
    }
    expect(await agentLogLines(d, "h1", '"kind":"abort"', '"command received"')).toHaveLength(0);

    // Every guest runs on exactly one host (h2) and keeps ticking.
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, guests))).toEqual({ vm1: "h2", vm2: "h2" });

    // Plannable again: h1 back from maintenance, both hosts healthy, nothing in flight, and a move is
    // admitted and runs to its end.
    await call(d.api, "POST", `/v1/hosts/h1/undrain`, ApiMaintenance, {});
    await waitPlannable(d);
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h1" });
    expect((await waitMigrationDone(d.api, back.id, 180_000)).state).toBe("succeeded");
    console.log(
      `fault case 5: NATS down ${((backAt - downAt) / 1000).toFixed(1)} s; ${first.vm}'s move ${done.state} (measured ${done.measuredDurationMs} ms); drain done after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    await restoreHomes(d, HOME);
  }, 600_000); // two moves under the cap, the outage, a retried move if the machine is loaded, and a move back

  // Case 3: the source agent is killed (SIGKILL) at ~20 % of a real live migration and started again
  // as systemd would. libvirt runs a peer-to-peer migration by itself, so the restarted agent must
  // find the job (or its outcome) and report it by the same command id; the scheduler must neither
  // abort a healthy job nor send it again, and record one outcome that is the truth (where the
  // guest's QEMU runs, from the lab's process table).
  it("source agent killed mid-migration and restarted: reported by the same command id; one truthful outcome, nothing sent twice, the cluster plannable again", async () => {
    const before = await moveIds(d);
    const t0 = Date.now();
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
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
    expect((await movesSince(d, before)).filter((x) => x.vm === "vm1").map((x) => x.id)).toEqual([m.id]);
    expect(await agentLogLines(d, "h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);
    expect(await agentLogLines(d, "h2", done.commandId)).toHaveLength(0);
    // Nor was the healthy job aborted.
    expect(await agentLogLines(d, "h1", '"kind":"abort"', '"command received"')).toHaveLength(0);
    // The restarted agent answered for the job it found (recovered, same ids).
    expect((await agentLogLines(d, "h1", "recovered migration ended")).join("\n")).toContain(done.id);

    // Every guest runs on exactly one host and keeps ticking.
    await eachGuestOnOneHostTicking(d, guests);

    // Plannable again: both hosts healthy, nothing in flight, and a new move of the same VM is
    // admitted and runs to its end.
    await waitPlannable(d);
    const back = await vi.waitFor(
      () => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: where === "h2" ? "h1" : "h2" }),
      // A failed move (the other accepted outcome) charges the pair the lab's 5 s cool-down.
      { timeout: 30_000, interval: 1000 },
    );
    const backDone = await waitMigrationDone(d.api, back.id, 300_000);
    expect(backDone.state, JSON.stringify(backDone.error)).toBe("succeeded");
    console.log(`fault case 3: move ended ${done.state} after ${((done.endedAtMs ?? 0) - t0) / 1000} s`);
    await restoreHomes(d, HOME);
  });

  // The source's own libvirtd is killed (SIGKILL) at ~20 % of a real live migration and started
  // again by the lab's supervision. The QEMUs may finish the move without it, so either outcome is
  // possible; the agent must not guess from the broken connection (which reads like a lost peer)
  // but wait for libvirtd and record where the guest runs. A move that landed leaves no definition
  // behind on the source (libvirt's last step, which undefines it, died with libvirtd).
  it("source libvirtd killed mid-migration, restarted by its supervision: the outcome is where the guest runs; it is defined on that host only", async () => {
    const before = await moveIds(d);
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
    await d.lab.kill("libvirtd", "h1");

    const done = await waitMigrationDone(d.api, m.id, 300_000);
    const where = (await eachGuestOnOneHostTicking(d, guests)).get("vm1");
    if (where === "h2") {
      expect([done.state, done.error, done.vmRunningOn], JSON.stringify(done)).toEqual(["succeeded", null, "h2"]);
    } else {
      expect(where).toBe("h1");
      expect(done.state, JSON.stringify(done)).toBe("failed");
      expect(done.error?.code).toBe("migration-interrupted");
    }
    expect(await agentLogLines(d, "h1", "recovering a migration whose end was not seen", '"libvirtd-lost"')).toHaveLength(1);
    await expect.poll(async () => (await vms(d.api)).find((v) => v.name === "vm1")?.host, { timeout: 30_000 }).toBe(where);
    for (const h of ["h1", "h2"]) expect((await d.lab.host(h).definedGuests()).includes("vm1"), `vm1 defined on ${h}`).toBe(h === where);

    // One move, one outcome, its command sent once; the cluster plannable again.
    expect((await movesSince(d, before)).filter((x) => x.vm === "vm1").map((x) => [x.id, x.state])).toEqual([[m.id, done.state]]);
    expect(await agentLogLines(d, "h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);
    await waitPlannable(d);
    const back = await vi.waitFor(
      () => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: where === "h2" ? "h1" : "h2" }),
      // A failed move charges the pair the lab's 5 s cool-down.
      { timeout: 30_000, interval: 1000 },
    );
    expect((await waitMigrationDone(d.api, back.id, 300_000)).state).toBe("succeeded");
    console.log(`fault case: source libvirtd lost; move ended ${done.state}`);
    await restoreHomes(d, HOME);
  });

  // Case 1: the destination's libvirtd is killed (SIGKILL) at ~20 % of a real live migration and
  // started again by the lab's supervision (as systemd's Restart=on-failure would). The move must
  // fail with an error that names the destination and the phase (not raw libvirt text), the guest
  // must keep running on the source only, nothing is sent twice, and the pair works again once the
  // destination's libvirtd is back.
  it("destination libvirtd killed mid-migration, restarted by its supervision: fails naming the destination and the phase; the guest stays on the source only; the pair works again", async () => {
    const before = await moveIds(d);
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
    const killed = d.lab.host("h2").libvirtdPid;
    await d.lab.kill("libvirtd", "h2");

    const done = await waitMigrationDone(d.api, m.id, 300_000);
    expect(done.state, JSON.stringify(done)).toBe("failed");
    expect(done.error?.code).toBe("destination-lost");
    expect(done.error?.message).toMatch(/vm1 from h1 to h2 failed in the (copy|switchover) phase: h2's libvirtd .* went away/);

    // The supervision started h2's libvirtd again; h2 is healthy again.
    await expect
      .poll(() => d.lab.host("h2").libvirtdPid ?? null, { timeout: 60_000, interval: 250, message: "h2's libvirtd to be restarted" })
      .not.toBeNull();
    expect(d.lab.host("h2").libvirtdPid).not.toBe(killed);

    // Every guest runs on exactly one host and keeps ticking; vm1 where it was.
    expect((await eachGuestOnOneHostTicking(d, guests)).get("vm1")).toBe("h1");
    expect((await vms(d.api)).find((v) => v.name === "vm1")?.host).toBe("h1");

    // One move, one outcome, its command sent once.
    expect((await movesSince(d, before)).filter((x) => x.vm === "vm1").map((x) => [x.id, x.state])).toEqual([[m.id, "failed"]]);
    expect(await agentLogLines(d, "h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);

    // Plannable again within the stated time, and the same pair now works.
    await waitPlannable(d);
    const again = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" }), {
      timeout: 30_000,
      interval: 1000,
    });
    const againDone = await waitMigrationDone(d.api, again.id, 300_000);
    expect(againDone.state, JSON.stringify(againDone.error)).toBe("succeeded");
    expect(await d.hostOf("vm1")).toBe("h2");
  });
});
