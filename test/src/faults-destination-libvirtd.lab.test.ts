// Fault case 1 (issue 11): the destination's libvirtd is killed (SIGKILL) at ~20 % of a real live
// migration and started again by the lab's supervision (as systemd's Restart=on-failure would).
// The move must fail with an error that names the destination and the phase (not raw libvirt
// text), the guest must keep running on the source only, nothing is sent twice, and the pair works
// again once the destination's libvirtd is back.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { migrations, vms, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import type { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, eachGuestOnOneHostTicking, twoHostFaultLab, waitPlannable } from "./helpers/faults.js";

let d: DroverLab;
const guests = ["vm1", "vm2"];

beforeAll(async () => {
  d = await twoHostFaultLab({ net: 37, failureCooldownMs: 5000 });
  await waitReady(d.api, 2, guests);
});

afterAll(async () => {
  await d?.stop();
});

describe("destination libvirtd killed mid-migration, restarted by its supervision", () => {
  it("fails naming the destination and the phase; the guest stays on the source only; the pair works again", async () => {
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await vi.waitFor(
      async () => {
        const x = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
        if ((x.progress?.fraction ?? 0) < 0.2) throw new Error(`waiting for 20 % of the move: ${x.state} ${JSON.stringify(x.progress)}`);
      },
      { timeout: 120_000, interval: 100 },
    );
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
    expect((await migrations(d.api)).filter((x) => x.vm === "vm1").map((x) => [x.id, x.state])).toEqual([[m.id, "failed"]]);
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
