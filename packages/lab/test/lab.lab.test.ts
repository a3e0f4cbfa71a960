import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Bus, BusConnectError } from "@drover/bus";
import { Command, CommandReply, silentLogger, subjects } from "@drover/protocol";
import { sendMagicPacket } from "@drover/wol";
import { isAlive, Lab, labStatus, type LabHost, type ProcRef } from "../src/index.js";
import { movedLive, ticksAbove } from "../src/testing/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const virsh = (uri: string, ...args: string[]) => execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 120_000 });

/** The lab host running vm1 and the other one (each test finds them, so it passes when run alone). */
function busyAndEmpty(lab: Lab): [LabHost, LabHost] {
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  return virsh(h1.uri, "list", "--name").includes("vm1") ? [h1, h2] : [h2, h1];
}

describe("Lab of 2 hosts on 127.0.9.x", () => {
  let stateDir: string;
  let lab: Lab;
  const started: ProcRef[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-lab-"));
    lab = await Lab.start({
      hosts: 2,
      guests: 1,
      net: 9,
      stateDir,
      natsPort: 4222,
      wolPort: 9,
      // A stand-in agent: a real process the lab must start, stop and restart by pid.
      agentCommand: (h) => ({ cmd: "sleep", args: ["3600"], env: { DROVER_HOST: h.name } }),
    });
  });

  afterAll(async () => {
    // Twice at once, as a signal handler beside a `finally` would: one teardown, both wait for it.
    await Promise.all([lab.stop(), lab.stop()]);
    const st = await labStatus(stateDir);
    expect(st.running).toBe(false);
    for (const p of started) expect(isAlive(p), `pid ${p.pid} still alive`).toBe(false);
    await rm(stateDir, { recursive: true, force: true });
  });

  it("records every process in lab.json/lab-host.json and reports it", async () => {
    const st = await labStatus(stateDir);
    expect(st.status).toBe("running");
    expect(st.nats?.running).toBe(true);
    expect(st.nats?.url).toBe("nats://127.0.9.254:4222");
    expect(st.hosts.map((h) => [h.name, h.address, h.libvirtd.running, h.agent?.running])).toEqual([
      ["h1", "127.0.9.1", true, true],
      ["h2", "127.0.9.2", true, true],
    ]);
    expect(st.guests.map((g) => [g.name, g.host])).toEqual([["vm1", "h1"]]);
    const file = JSON.parse(execFileSync("cat", [join(stateDir, "lab.json")], { encoding: "utf8" })) as { natsNodes: { proc: ProcRef }[] };
    started.push(...file.natsNodes.map((n) => n.proc));
    for (const h of lab.hosts) {
      const s = h.state();
      if (s.libvirtd) started.push(s.libvirtd);
      if (s.agent?.proc) started.push(s.agent.proc);
    }
    for (const q of await lab.host("h1").qemuProcs()) started.push(q.proc);
    expect(started.length).toBe(6);
  });

  it("runs NATS with mutual TLS and one identity each for the hosts, the scheduler and tools: nobody else gets in", async () => {
    await using sched = await Bus.connect({ ...lab.busOptions("scheduler"), name: "lab-test scheduler", logger: silentLogger });
    await using h1 = await Bus.connect({ ...lab.busOptions("h1"), name: "lab-test h1", logger: silentLogger });
    // h1's identity serves its own command subject; only the scheduler's may send to it.
    h1.serve(subjects.hostCommand(lab.cluster, "h1"), Command, CommandReply, (c) => ({
      v: 1 as const,
      id: c.id,
      host: "h1",
      kind: c.kind,
      status: "succeeded" as const,
      timeMs: Date.now(),
    }));
    await h1.flush();
    const cmd = { v: 1 as const, id: "c1", kind: "status" as const, commandId: "c0", issuedAtMs: Date.now() };
    expect(await sched.request(subjects.hostCommand(lab.cluster, "h1"), Command, cmd, CommandReply)).toMatchObject({
      id: "c1",
      host: "h1",
    });
    const anonymous = await Bus.connect({ servers: [lab.natsUrl], name: "anonymous", logger: silentLogger, connectTimeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    expect(anonymous).toBeInstanceOf(BusConnectError);
    const { nkeySeedFile: _seed, ...tlsOnly } = lab.busOptions("tools");
    const noUser = await Bus.connect({ ...tlsOnly, name: "no user", logger: silentLogger, connectTimeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    expect(noUser).toBeInstanceOf(BusConnectError);
    expect((noUser as Error).message).toMatch(/authorization violation/i);
    expect((await labStatus(stateDir)).nats?.credentialsDir).toBe(join(stateDir, "credentials"));
  });

  it("restarts one agent by pid, leaving the other alone", async () => {
    const [h1, h2] = [lab.host("h1"), lab.host("h2")];
    const old = h1.state().agent?.proc as ProcRef;
    const other = h2.agent?.pid;
    await h1.restartAgent();
    const fresh = h1.state().agent?.proc as ProcRef;
    expect(isAlive(old)).toBe(false);
    expect(isAlive(fresh)).toBe(true);
    expect(fresh.pid).not.toBe(old.pid);
    expect(h2.agent?.pid).toBe(other);
    started.push(fresh);
    expect((await labStatus(stateDir)).hosts[0]?.agent?.pid).toBe(fresh.pid);
  });

  it("boots the guest: its tick counter increases", async () => {
    const file = lab.host("h1").serialFile("vm1");
    const first = await ticksAbove("first ticks", file, 0);
    await ticksAbove("more ticks", file, first);
  });

  it("keeps the guest running across a libvirtd restart", async () => {
    const h1 = lab.host("h1");
    const [q] = await h1.qemuProcs();
    const before = h1.libvirtdPid;
    await h1.stop();
    expect(h1.running).toBe(false);
    expect(isAlive(q?.proc)).toBe(true);
    await h1.start();
    expect(h1.libvirtdPid).not.toBe(before);
    started.push(h1.state().libvirtd as ProcRef);
    expect(virsh(h1.uri, "domstate", "vm1").trim()).toBe("running");
  });

  it("live-migrates h1 -> h2 with virsh (p2p, unsafe) and the counter continues on h2", async () => {
    const [h1, h2] = [lab.host("h1"), lab.host("h2")];
    // The guest must have booted (ticks > 0) so that "the counter continues" means something.
    const before = await ticksAbove("vm1 booted on h1", h1.serialFile("vm1"), 0);
    virsh(h1.uri, "migrate", "--live", "--p2p", "--unsafe", "--persistent", "--undefinesource", "vm1", h2.uri);
    expect(virsh(h2.uri, "domstate", "vm1").trim()).toBe("running");
    expect(virsh(h1.uri, "list", "--all", "--name").trim()).toBe("");
    const onH2 = h2.serialFile("vm1");
    // The same guest, arrived by migration (not a reboot), counting on from where it was.
    const next = await movedLive("ticks on h2", onH2, before);
    await ticksAbove("more ticks on h2", onH2, next);
    for (const q of await h2.qemuProcs()) started.push(q.proc);
  });

  it("refuses to power off a host with a guest; a WoL packet powers an emptied host back on", async () => {
    const [busy, empty] = busyAndEmpty(lab);
    await expect(busy.powerOff()).rejects.toThrow(/still runs vm1/);
    await empty.powerOff();
    expect(empty.power).toBe("off");
    expect(empty.running).toBe(false);
    expect(empty.agent?.running).toBe(false);
    // A packet for another MAC does nothing.
    await sendMagicPacket({ mac: busy.mac, address: empty.address, port: 9 }, { labSafe: true });
    await sleep(500);
    await empty.refresh();
    expect(empty.power).toBe("off");
    await sendMagicPacket({ mac: empty.mac, address: empty.address, port: 9 }, { labSafe: true });
    await vi.waitFor(
      async () => {
        await empty.refresh();
        const s = { power: empty.power, libvirtd: empty.running, agent: empty.agent?.running };
        if (s.power !== "on" || !s.libvirtd || !s.agent) throw new Error(`waiting for ${empty.name} powered on: ${JSON.stringify(s)}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    expect(virsh(empty.uri, "hostname").trim()).toBe(empty.name);
    const s = empty.state();
    started.push(s.libvirtd as ProcRef, s.agent?.proc as ProcRef);
  });
});
