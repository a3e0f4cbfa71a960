import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { sendMagicPacket } from "@drover/wol";
import { isAlive, labDown, procRef, labStatus, labUp, type LabHostState, type ProcRef } from "../src/index.js";
import { ticksAbove } from "../src/testing/index.js";

async function hostState(stateDir: string, name: string): Promise<LabHostState> {
  return JSON.parse(await readFile(join(stateDir, "hosts", name, "lab-host.json"), "utf8")) as LabHostState;
}

describe("labUp / labDown from the state dir (net 127.0.10.x)", () => {
  let stateDir = "";
  const seen: ProcRef[] = [];

  afterAll(async () => {
    if (stateDir) {
      await labDown(stateDir);
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it("brings a detached lab up, powers a host off and wakes it, and labDown ends every process it started", async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-labup-"));
    const up = await labUp({
      hosts: 2,
      guests: 1,
      net: 10,
      stateDir,
      natsPort: 4222,
      agent: { cmd: "sleep", args: ["3600"], env: { DROVER_HOST: "${host}", DROVER_NATS: "${nats}" } },
      scheduler: { cmd: "sleep", args: ["3601"], env: { DROVER_CLUSTER: "${cluster}" } },
    });
    expect(up.status).toBe("running");
    expect(up.owner).toMatchObject({ kind: "keeper", running: true });
    expect(up.scheduler?.running).toBe(true);
    expect(up.hosts.map((h) => [h.name, h.guests])).toEqual([
      ["h1", ["vm1"]],
      ["h2", []],
    ]);
    await expect(labUp({ stateDir, net: 10 })).rejects.toThrow(/already runs/);
    // Another lab on the same net, in a directory of its own: its NATS finds the address taken, and
    // the error says so (nats-server's fatal line and the likely cause), not a dump of the keeper's log.
    const other = await mkdtemp(join(tmpdir(), "drover-labup-same-net-"));
    try {
      await expect(labUp({ hosts: 1, guests: 0, net: 10, stateDir: other, natsPort: 4222 })).rejects.toThrow(
        /^the lab did not start: nats-server exited: .*address already in use.* \(another lab on 127\.0\.10\.254\? .*another --net\)$/,
      );
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    expect((await labStatus(stateDir)).running).toBe(true);

    const file = JSON.parse(await readFile(join(stateDir, "lab.json"), "utf8")) as {
      owner: { proc: ProcRef };
      natsNodes: { proc: ProcRef }[];
      schedulers: { proc: ProcRef }[];
    };
    seen.push(file.owner.proc, ...file.natsNodes.map((n) => n.proc), ...file.schedulers.map((x) => x.proc));
    for (const h of ["h1", "h2"]) {
      const s = await hostState(stateDir, h);
      seen.push(s.libvirtd as ProcRef, s.agent?.proc as ProcRef);
    }
    expect(seen.every((p) => isAlive(p))).toBe(true);

    // The agent's way to power its host off: the command recorded in lab-host.json.
    const off = async (h: string) => {
      const c = (await hostState(stateDir, h)).powerOffCommand;
      return spawnSync(c.cmd, c.args, { cwd: c.cwd, encoding: "utf8" });
    };
    const busy = await off("h1");
    expect(busy.status).toBe(2);
    expect(busy.stderr).toContain("still runs vm1");
    expect((await off("h2")).status).toBe(0);
    let h2 = (await labStatus(stateDir)).hosts[1];
    expect([h2?.power, h2?.libvirtd.running, h2?.agent?.running]).toEqual(["off", false, false]);

    const s2 = await hostState(stateDir, "h2");
    await sendMagicPacket({ mac: s2.wake.mac, address: s2.wake.address, port: s2.wake.port }, { labSafe: true });
    await vi.waitFor(
      async () => {
        h2 = (await labStatus(stateDir)).hosts[1];
        const s = { power: h2?.power, libvirtd: h2?.libvirtd.running, agent: h2?.agent?.running };
        if (s.power !== "on" || !s.libvirtd || !s.agent) throw new Error(`waiting for h2 woken by the keeper: ${JSON.stringify(s)}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    const woken = await hostState(stateDir, "h2");
    seen.push(woken.libvirtd as ProcRef, woken.agent?.proc as ProcRef);

    const vm1 = join(stateDir, "hosts", "h1", "log", "qemu", "vm1.serial");
    await ticksAbove("vm1 ticking", vm1, 0);
    const h1 = await hostState(stateDir, "h1");
    const qemuPid = Number((await readFile(join(h1.dir, "run", "qemu", "vm1.pid"), "utf8")).trim());
    const q = procRef(qemuPid);
    expect(q).toBeDefined();
    seen.push(q as ProcRef);

    const down = await labDown(stateDir);
    expect(down.running).toBe(false);
    expect(down.status).toBe("stopped");
    const alive = seen.filter((p) => isAlive(p)).map((p) => p.pid);
    expect(alive, `still alive: ${alive.join(", ")}`).toEqual([]);
  });
});
