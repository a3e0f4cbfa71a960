// Fault case 2 (issue 11): the link between source and destination is cut at ~20 % of a real live
// migration (namespace lab: the two hosts' switch ports parted, both still reach NATS), held cut
// until the move has ended, then restored. The move must end by itself within a bounded time (the
// agent's convergence watchdog and libvirt's keepalive bound it) with one outcome naming the VM,
// both hosts and the phase; the guest runs on exactly one host, nothing is sent twice, and the pair
// works again once the link is back.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { hosts, migrations, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import type { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, eachGuestOnOneHostTicking, twoHostFaultLab, waitPlannable, waitProgress } from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];
/** A cut link must end the move within this (watchdog stall rungs + libvirt keepalive, see ARCHITECTURE.md "Faults"). */
const ENDED_WITHIN_CUT_MS = 120_000;

beforeAll(async () => {
  d = await twoHostFaultLab({ net: 41, network: "netns", failureCooldownMs: 5000 });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

describe("link between source and destination cut mid-migration, then restored", () => {
  it("ends the move with one outcome naming both hosts and the phase; the guest runs once; the pair works again", async () => {
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
    const cutAt = Date.now();
    await d.lab.cutLink("h1", "h2");

    const done = await waitMigrationDone(d.api, m.id, ENDED_WITHIN_CUT_MS);
    const endedAfterMs = Date.now() - cutAt;
    // Only the pair was parted: both agents kept reporting over the lab switch's root port.
    expect((await hosts(d.api)).map((h) => [h.id, h.state])).toEqual([
      ["h1", "healthy"],
      ["h2", "healthy"],
    ]);
    await d.lab.healLink("h1", "h2");
    console.log(`fault case 2: move ended ${done.state} ${JSON.stringify(done.error)} ${endedAfterMs} ms after the cut`);

    const where = await eachGuestOnOneHostTicking(d, guests);
    if (done.state === "succeeded") {
      expect(where.get("vm1")).toBe("h2");
      expect(done.vmRunningOn).toBe("h2");
    } else {
      expect(done.state, JSON.stringify(done)).toBe("failed");
      expect(where.get("vm1")).toBe("h1");
      expect(done.error?.code).toBe("destination-unreachable");
      expect(done.error?.message).toMatch(/vm1 from h1 to h2 failed in the (copy|switchover) phase: h2 .*not reachable/);
    }
    await vi.waitFor(async () => expect((await vms(d.api)).find((v) => v.name === "vm1")?.host).toBe(where.get("vm1")), {
      timeout: 30_000,
    });

    // One move, one outcome, its command sent once.
    expect((await migrations(d.api)).filter((x) => x.vm === "vm1").map((x) => [x.id, x.state])).toEqual([[m.id, done.state]]);
    expect(await agentLogLines(d, "h1", `"${done.commandId}"`, '"command received"')).toHaveLength(1);
    expect(await agentLogLines(d, "h2", done.commandId)).toHaveLength(0);

    // Plannable again within the stated time, and the pair works over the restored link.
    await waitPlannable(d);
    const [from, to] = where.get("vm1") === "h1" ? ["h1", "h2"] : ["h2", "h1"];
    const again = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: to }), {
      timeout: 30_000,
      interval: 1000,
    });
    const againDone = await waitMigrationDone(d.api, again.id, 300_000);
    expect(againDone.state, JSON.stringify(againDone.error)).toBe("succeeded");
    expect(await d.hostOf("vm1")).toBe(to);
    expect(from).not.toBe(to);
  });
});
