// Operator controls (restart one part, kill one part), libvirtd's supervision, and a teardown that
// leaves nothing running even with a wake under way.
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendMagicPacket } from "@drover/wol";
import { isAlive, Lab, labStatus, type LabHostState, type ProcRef } from "../src/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of processes whose command line holds `marker` (a stand-in agent's argument). */
function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (cmd.includes(marker) && !/\) [ZX] /.test(stat) && Number(d) !== process.pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function pidRuns(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** A stand-in daemon carrying `marker` in its command line (one process: killing its pid ends it). */
const markedDaemon = (marker: string) => ({ cmd: process.execPath, args: ["-e", "setInterval(() => {}, 1e9)", marker] });

const hostFile = async (lab: Lab, h: string) => JSON.parse(await readFile(join(lab.host(h).dir, "lab-host.json"), "utf8")) as LabHostState;

describe("lab controls on 127.0.14.x", () => {
  let stateDir: string;
  let lab: Lab;
  const seen: ProcRef[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-lab-controls-"));
    lab = await Lab.start({
      hosts: 2,
      guests: 0,
      net: 14,
      stateDir,
      // Stand-ins: real processes the lab must start, kill and restart by pid.
      agentCommand: (h) => ({ cmd: "sleep", args: ["3600"], env: { DROVER_HOST: h.name } }),
      schedulerCommand: () => ({ cmd: "sleep", args: ["3601"] }),
    });
  });

  afterAll(async () => {
    await lab?.stop();
    expect((await labStatus(stateDir)).running).toBe(false);
    for (const p of seen) expect(isAlive(p), `pid ${p.pid} still alive`).toBe(false);
    await rm(stateDir, { recursive: true, force: true });
  });

  it("restarts the scheduler, NATS, an agent and a libvirtd by pid; status shows each up again", async () => {
    const pidOf = async (part: string): Promise<number | null> => {
      const st = await labStatus(stateDir);
      if (part === "scheduler") return st.scheduler?.pid ?? null;
      if (part === "nats") return st.nats?.pid ?? null;
      const h1 = st.hosts.find((h) => h.name === "h1");
      return (part === "agent" ? h1?.agent?.pid : h1?.libvirtd.pid) ?? null;
    };
    for (const part of ["scheduler", "nats", "agent", "libvirtd"] as const) {
      const before = await pidOf(part);
      expect(before, `${part} runs before the restart`).toBeTypeOf("number");
      await lab.restart(part, part === "agent" || part === "libvirtd" ? "h1" : undefined);
      const after = await pidOf(part);
      expect(after, `${part} runs after the restart`).toBeTypeOf("number");
      expect(after, part).not.toBe(before);
      expect(pidRuns(before!), `the old ${part} (pid ${before}) is gone`).toBe(false);
    }
    const file = JSON.parse(await readFile(join(stateDir, "lab.json"), "utf8")) as {
      natsNodes: { proc: ProcRef }[];
      schedulers: { proc: ProcRef }[];
    };
    seen.push(...file.natsNodes.map((n) => n.proc), ...file.schedulers.map((x) => x.proc));
    // The other host was left alone.
    expect((await labStatus(stateDir)).hosts.map((h) => [h.name, h.libvirtd.running, h.agent?.running])).toEqual([
      ["h1", true, true],
      ["h2", true, true],
    ]);
  });

  it("names what is wrong with a control", async () => {
    await expect(lab.restart("agent")).rejects.toThrow(/a host name \(h1, h2\)/);
    await expect(lab.kill("libvirtd", "h9")).rejects.toThrow(/no lab host named "h9"/);
    await expect(lab.restart("dns" as never)).rejects.toThrow(/scheduler\|nats\|agent\|libvirtd/);
  });

  it("starts a killed libvirtd again by itself (Restart=on-failure); a killed agent stays down until restarted", async () => {
    const before = (await hostFile(lab, "h2")).libvirtd!;
    await lab.kill("libvirtd", "h2");
    expect(isAlive(before)).toBe(false);
    await expect
      .poll(async () => (await labStatus(stateDir)).hosts.find((h) => h.name === "h2")?.libvirtd.pid ?? null, {
        timeout: 60_000,
        interval: 250,
        message: "h2's libvirtd to be started again by the supervision",
      })
      .not.toBeNull();
    const again = (await hostFile(lab, "h2")).libvirtd!;
    expect(again.pid).not.toBe(before.pid);
    seen.push(again);

    const agent = (await hostFile(lab, "h2")).agent!.proc!;
    await lab.kill("agent", "h2");
    expect(isAlive(agent)).toBe(false);
    // Several supervision rounds (RESTART_ON_FAILURE.delayMs = 1 s): agents are not supervised.
    await sleep(3000);
    expect((await labStatus(stateDir)).hosts.find((h) => h.name === "h2")?.agent?.running).toBe(false);
    await lab.restart("agent", "h2");
    expect((await labStatus(stateDir)).hosts.find((h) => h.name === "h2")?.agent?.running).toBe(true);
    seen.push((await hostFile(lab, "h2")).agent!.proc!);
  });
});

describe("teardown with a wake in flight on 127.0.15.x", () => {
  it("ends every process the lab started, the woken host's agent included", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "drover-lab-wake-"));
    const marker = `drover-wake-teardown-${process.pid}`;
    const lab = await Lab.start({
      hosts: 1,
      guests: 0,
      net: 15,
      stateDir,
      agentCommand: () => markedDaemon(marker),
      schedulerCommand: () => markedDaemon(marker),
    });
    try {
      const h1 = lab.host("h1");
      const agentBefore = h1.state().agent!.proc!;
      await h1.powerOff();
      expect(isAlive(agentBefore)).toBe(false);
      await sendMagicPacket({ mac: h1.mac, address: h1.address, port: 9 }, { labSafe: true });
      // In flight: the wake has started libvirtd but not yet the agent (power is "on" only after both).
      const started = await (async () => {
        const end = Date.now() + 60_000;
        for (;;) {
          const s = await hostFile(lab, "h1").catch(() => null);
          if (s?.libvirtd && s.power === "off") return s.libvirtd;
          if (s?.power === "on") throw new Error("the wake finished before the test saw it in flight");
          if (Date.now() > end) throw new Error("the wake did not start libvirtd within 60 s");
          await sleep(5);
        }
      })();
      await lab.stop();
      const s = await hostFile(lab, "h1");
      for (const p of [started, s.libvirtd, s.agent?.proc, agentBefore]) if (p) expect(isAlive(p), `pid ${p.pid} still alive`).toBe(false);
      expect(pidsWith(marker), "processes of this lab still running").toEqual([]);
      expect((await labStatus(stateDir)).running).toBe(false);
    } finally {
      await lab.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
