// The link between source and destination cut during a copy-storage move (namespace lab). The move
// fails, and the disk image it created on the destination cannot be removed then: the destination
// does not answer. Left, that image would refuse the VM's every later copy there (an image is never
// created over an existing file) and hold the host's disk. The agent keeps it in its state and
// removes it once the destination answers; the next move copies the disk there whole. A move that
// lands removes the source's now stale copy, or the VM could never be copied back there. A move
// whose end the agent did not see (its libvirtd lost, or the agent itself restarted) leaves no image
// behind either.
//
// Each host namespace's TCP gives up on a silent peer after a few retransmissions
// (net.ipv4.tcp_retries2=4) rather than the default's ~15 minutes: QEMU's disk mirror, cancelled
// when the move fails, waits on its connection to the destination until TCP gives up.
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { diskContentHash, localDiskNsPath } from "@drover/lab";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, eachGuestOnOneHostTicking, waitProgress } from "./helpers/faults.js";

const run = promisify(execFile);
let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 55,
    hosts: 2,
    network: "netns",
    guests: [{ name: "disk1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 0 }, localDisk: { sizeMiB: 32, dataMiB: 8 } }],
    scheduler: {
      policies: { balance: { mode: "off" }, consolidate: { mode: "off" } },
      migration: { bandwidthMiBs: 4 },
      cooldowns: { vmMs: 1000, returnMs: 1000, failureMs: 1000 },
    },
  });
  for (const h of d.lab.hosts) await run("ip", ["netns", "exec", h.netns!, "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=4"]);
  await waitReady(d.api, 2, ["disk1"]);
}, 300_000);

afterAll(async () => {
  await d?.lab.healLink("h1", "h2").catch(() => undefined);
  await d?.stop();
});

const imageFile = (host: string) => d.lab.host(host).hostPath(localDiskNsPath("disk1"));
const imageOn = (host: string) =>
  access(imageFile(host)).then(
    () => true,
    () => false,
  );

describe("link cut during a copy-storage move", () => {
  it("fails; the image left on the destination is removed once it answers; the next move copies the disk there", async () => {
    const source = await diskContentHash(imageFile("h1"));
    expect(await imageOn("h2")).toBe(false);
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
    await d.lab.cutLink("h1", "h2");
    const failed = await waitMigrationDone(d.api, m.id, 300_000);
    expect(failed.state, JSON.stringify(failed)).toBe("failed");
    expect(failed.error?.code).toBe("destination-unreachable");
    // The image the move made on h2 could not be removed: h2 did not answer.
    expect(await imageOn("h2")).toBe(true);

    await d.lab.healLink("h1", "h2");
    await vi.waitFor(
      async () => {
        if (await imageOn("h2")) throw new Error("waiting for h1's agent to remove the image left on h2");
      },
      { timeout: 120_000, interval: 1000 },
    );
    expect(await agentLogLines(d, "h1", "copied disk images left on the destination; removed once it answers")).toHaveLength(1);
    expect(await agentLogLines(d, "h1", "disk image left by a failed move removed from the destination")).toHaveLength(1);
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: "h1" });

    const again = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: "h2" }), {
      timeout: 30_000,
      interval: 1000,
    });
    const done = await waitMigrationDone(d.api, again.id, 300_000);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: "h2" });
    expect(await diskContentHash(imageFile("h2"))).toBe(source);
  }, 900_000);

  it("a copy-storage move that landed leaves no stale copy on its source, so the VM can come back", async () => {
    expect(await d.hostOf("disk1")).toBe("h2");
    const content = await diskContentHash(imageFile("h2"));
    const back = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: "h1" });
    const done = await waitMigrationDone(d.api, back.id, 300_000);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: "h1" });
    expect(await diskContentHash(imageFile("h1"))).toBe(content);
    // The stale copy the move left went with it (as h1's did with the move above, or this copy
    // could not have been made).
    expect(await imageOn("h2")).toBe(false);
  }, 600_000);

  // Its end unseen: the source's libvirtd killed mid-copy (the lab's supervision starts it again,
  // as systemd would). While the agent waits for libvirt to say how the move ended, the image on h2
  // is kept (QEMU might still be finishing onto it); once the move is known not to have landed, it is
  // a leftover like any other.
  it("the source's libvirtd lost mid-copy: once the move is known failed, the image it made on the destination is removed", async () => {
    expect(await d.hostOf("disk1")).toBe("h1");
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: "h2" });
    await waitProgress(d, m.id, 0.2);
    expect(await imageOn("h2")).toBe(true);
    await d.lab.kill("libvirtd", "h1");
    const failed = await waitMigrationDone(d.api, m.id, 300_000);
    expect([failed.state, failed.error?.code], JSON.stringify(failed)).toEqual(["failed", "migration-interrupted"]);
    expect(await agentLogLines(d, "h1", "recovering a migration whose end was not seen", '"libvirtd-lost"')).toHaveLength(1);
    await vi.waitFor(
      async () => {
        if (await imageOn("h2")) throw new Error("waiting for h1's agent to remove the image the failed move left on h2");
      },
      { timeout: 120_000, interval: 1000 },
    );
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: "h1" });
    const again = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: "h2" }), {
      timeout: 30_000,
      interval: 1000,
    });
    expect((await waitMigrationDone(d.api, again.id, 300_000)).state).toBe("succeeded");
  }, 600_000);

  // The source's agent killed mid-copy, the job then cancelled in libvirt, the agent started again:
  // its journal names the image the move made, so the restarted agent removes it once it finds the
  // move failed (before, it knew nothing of it, and the VM's every later copy there was refused).
  it("the source's agent restarted while the copy fails: the image the move made on the destination is removed", async () => {
    const from = (await d.hostOf("disk1"))!;
    const to = from === "h1" ? "h2" : "h1";
    expect(await imageOn(to)).toBe(false);
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: to });
    await waitProgress(d, m.id, 0.2);
    await d.lab.kill("agent", from);
    await run("virsh", ["-c", d.lab.host(from).uri, "domjobabort", "disk1"]);
    await d.lab.restart("agent", from);
    const failed = await waitMigrationDone(d.api, m.id, 300_000);
    expect([failed.state, failed.error?.code], JSON.stringify(failed)).toEqual(["failed", "migration-interrupted"]);
    await vi.waitFor(
      async () => {
        if (await imageOn(to)) throw new Error(`waiting for ${from}'s restarted agent to remove the image the failed move left on ${to}`);
      },
      { timeout: 120_000, interval: 1000 },
    );
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: from });
    const again = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: to }), {
      timeout: 30_000,
      interval: 1000,
    });
    const done = await waitMigrationDone(d.api, again.id, 300_000);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
  }, 600_000);

  // The source's agent killed mid-copy and started again while libvirt carries the move on: the
  // restarted agent finds it landed and removes the source's now stale copy, as the agent that saw
  // the end does (before, it stayed, and the VM could not be copied back).
  it("the source's agent restarted while the copy lands: the stale copy on the source is removed; the VM comes back", async () => {
    const from = (await d.hostOf("disk1"))!;
    const to = from === "h1" ? "h2" : "h1";
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: to });
    await waitProgress(d, m.id, 0.2);
    await d.lab.kill("agent", from);
    await new Promise((r) => setTimeout(r, 2000));
    await d.lab.restart("agent", from);
    const landed = await waitMigrationDone(d.api, m.id, 300_000);
    expect([landed.state, landed.vmRunningOn], JSON.stringify(landed)).toEqual(["succeeded", to]);
    expect(await agentLogLines(d, from, "recovered migration ended", landed.id)).toHaveLength(1);
    await vi.waitFor(
      async () => {
        if (await imageOn(from)) throw new Error(`waiting for ${from}'s restarted agent to remove the moved VM's stale copy`);
      },
      { timeout: 30_000, interval: 500 },
    );
    const back = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "disk1", host: from }), {
      timeout: 30_000,
      interval: 1000,
    });
    const done = await waitMigrationDone(d.api, back.id, 300_000);
    expect(done.state, JSON.stringify(done.error)).toBe("succeeded");
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["disk1"]))).toEqual({ disk1: from });
  }, 600_000);
});
