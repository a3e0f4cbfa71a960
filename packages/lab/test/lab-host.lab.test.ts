import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, LabHost, startGuest, type ProcRef } from "../src/index.js";
import { ticksAbove } from "../src/testing/index.js";

const virsh = (uri: string, ...args: string[]) => execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8" });

describe("LabHost (net 127.0.8.x)", () => {
  let stateDir: string;
  let host: LabHost;
  const qemu: ProcRef[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-lab-host-"));
    host = new LabHost({ name: "h1", index: 1, net: 8, stateDir });
    await host.start();
  });

  afterAll(async () => {
    for (const cmd of ["destroy", "undefine"]) {
      try {
        virsh(host.uri, cmd, "lhg1");
      } catch {
        // not running / already gone
      }
    }
    await host.stop();
    for (const q of qemu) expect(isAlive(q)).toBe(false);
    await rm(stateDir, { recursive: true, force: true });
  });

  it("serves its own URI with its own hostname and host UUID", () => {
    expect(host.running).toBe(true);
    expect(virsh(host.uri, "hostname").trim()).toBe("h1");
    expect(virsh(host.uri, "capabilities")).toContain(`<uuid>${host.hostUuid}</uuid>`);
  });

  it("boots a guest whose tick counter increases, and keeps it across a libvirtd restart", async () => {
    await startGuest(host, { name: "lhg1" });
    const file = host.serialFile("lhg1");
    const first = await ticksAbove("guest booted", file, 1);
    const procs = await host.qemuProcs();
    expect(procs.map((p) => p.guest)).toEqual(["lhg1"]);
    qemu.push(...procs.map((p) => p.proc));

    const oldPid = host.libvirtdPid;
    await host.stop();
    expect(host.running).toBe(false);
    expect(isAlive(procs[0]?.proc)).toBe(true);
    await host.start();
    expect(host.libvirtdPid).not.toBe(oldPid);
    expect(virsh(host.uri, "domstate", "lhg1").trim()).toBe("running");
    await ticksAbove("ticks after the restart", file, first + 2);
  });

  it("fails start() at once, naming the cause, when libvirtd cannot bind its address", async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(16509, "127.0.8.2", () => r()));
    const h2 = new LabHost({ name: "h2", index: 2, net: 8, stateDir });
    try {
      const t = Date.now();
      await expect(h2.start()).rejects.toThrow(/libvirtd of h2 exited: .*Unable to bind/);
      expect(Date.now() - t).toBeLessThan(30_000);
      expect(h2.running).toBe(false);
    } finally {
      squatter.close();
    }
  });
});
