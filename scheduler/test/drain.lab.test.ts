// Real hosts: a lab (libvirtd per host, a tiny TCG guest, the real host agents) started with
// `drover lab up --no-scheduler`, and this scheduler in-process on the lab's NATS.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectionFilesIn } from "@drover/bus";
import { parseConfig } from "../src/config.js";
import { Scheduler } from "../src/scheduler.js";

const repo = join(import.meta.dirname, "..", "..");
const cli = (...a: string[]) =>
  execFileSync(process.execPath, ["--import", "tsx", join(repo, "cli/src/main.ts"), "lab", ...a], {
    cwd: repo,
    encoding: "utf8",
    timeout: 300_000,
  });

describe("scheduler on a lab with real agents", () => {
  let labDir = "";
  let stateDir = "";
  let s: Scheduler;
  let vm = "";

  beforeAll(async () => {
    labDir = await mkdtemp(join(tmpdir(), "drover-sched-lab-"));
    stateDir = await mkdtemp(join(tmpdir(), "drover-sched-state-"));
    cli("up", "--hosts", "2", "--guests", "1", "--net", "45", "--no-scheduler", "--state-dir", labDir, "--json");
    const lab = JSON.parse(cli("status", "--state-dir", labDir, "--json")) as {
      cluster: string;
      nats: { url: string; credentialsDir: string };
      guests: { name: string }[];
      hosts: { name: string; mac: string; address: string }[];
    };
    const hosts = Object.fromEntries(
      lab.hosts.map((h) => [h.name, { power: { wake: "wol" as const, mac: h.mac, address: h.address, port: 9, wakeTimeoutMs: 120_000 } }]),
    );
    vm = lab.guests[0]!.name;
    s = Scheduler.create(
      parseConfig({
        cluster: lab.cluster,
        // The lab's NATS admits only the identities it issued; this scheduler is the lab's.
        nats: connectionFilesIn(lab.nats.credentialsDir, "scheduler", [lab.nats.url], true),
        stateDir,
        http: { host: "127.0.0.1", port: 0 },
        reports: { intervalMs: 2000 },
        policies: { balance: { mode: "off" }, consolidate: { mode: "off" }, drain: { mode: "automatic" } },
        migration: { allowUnsafe: true, timeoutMs: 120_000 },
        hosts,
      }),
      { tickMs: 500 },
    );
    await s.start();
    await vi.waitFor(
      () => {
        const healthy = [...s.state.hosts.values()].filter((h) => s.state.stateOf(h, Date.now()) === "healthy").map((h) => h.id);
        if (healthy.length !== 2 || s.state.vm(vm) === undefined) {
          throw new Error(`waiting for 2 healthy lab hosts and guest ${vm}: healthy ${healthy.join(", ") || "none"}`);
        }
      },
      { timeout: 120_000, interval: 200 },
    );
  });

  afterAll(async () => {
    await s?.shutdown();
    if (labDir) cli("down", "--state-dir", labDir);
    await rm(labDir, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  });

  it("drains the guest's host with a real live migration, ends in maintenance, and undrains", async () => {
    const from = s.state.vm(vm)!.host;
    const to = [...s.state.hosts.keys()].find((h) => h !== from)!;
    const m = s.maintenance.drain(from, false, "lab-test");
    await expect
      .poll(() => s.store.maintenance.get(m.id)!.status, { timeout: 180_000, interval: 200, message: "in maintenance" })
      .toBe("in-maintenance");
    const view = s.maintenance.toApi(s.store.maintenance.get(m.id)!);
    expect(view.migrations).toHaveLength(1);
    const mig = s.store.migrations.get(view.migrations[0]!)!;
    expect(mig).toMatchObject({ status: "succeeded", source: from, destination: to });
    expect(mig.measuredDurationMs).toBeGreaterThan(0);
    expect(s.state.vm(vm)!.host).toBe(to);
    expect(s.state.freshVmCount(from, Date.now())).toBe(0);
    s.maintenance.undrain(from, "lab-test");
    expect(s.state.stateOf(s.state.hosts.get(from)!, Date.now())).toBe("healthy");
  });

  it("powers an emptied host off through its agent and wakes it by Wake-on-LAN on its lab address", async () => {
    const empty = [...s.state.hosts.keys()].find((h) => s.state.vmsOn(h).length === 0)!;
    const m = s.maintenance.drain(empty, true, "lab-test");
    await expect
      .poll(() => s.state.stateOf(s.state.hosts.get(empty)!, Date.now()), {
        timeout: 120_000,
        interval: 200,
        message: "host powered off (standby)",
      })
      .toBe("standby");
    expect(s.maintenance.toApi(s.store.maintenance.get(m.id)!).state).toBe("powered-off");
    const off = s.store.power.list({ host: empty })[0]!;
    expect(off).toMatchObject({ action: "power-off", method: "agent", status: "succeeded" });
    s.maintenance.undrain(empty, "lab-test");
    const wake = s.store.power.list({ host: empty })[0]!;
    expect(wake).toMatchObject({ action: "wake", method: "wol" });
    await expect
      .poll(() => s.store.power.get(wake.id)!.status, { timeout: 120_000, interval: 200, message: "woken host reports healthy" })
      .toBe("succeeded");
    expect(s.state.stateOf(s.state.hosts.get(empty)!, Date.now())).toBe("healthy");
  });
});
