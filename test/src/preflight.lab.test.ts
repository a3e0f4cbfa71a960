// Issue 12's preflight checks and `drover abort`, on one lab of two real libvirtd hosts: each failing
// check is reached through the scheduler's dispatcher with a real difference the lab can create, and a
// running move is aborted from the CLI. (The lab's hosts run one libvirt and one QEMU, so the version
// check is covered by agents/host-agent/test/preflight-checks.test.ts with real version numbers.)
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureGuestImage, guestDomainXml, hostAddress, hostUri, migrationPorts } from "@drover/lab";
import { ApiMigration } from "@drover/protocol";
import { call, drover } from "./helpers/api.js";
import { waitMigrationDone, waitReady, vms } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

const NET = 61;
const h2 = hostAddress(NET, 2);
const h2Listener = migrationPorts(NET, 2).max;
let d: DroverLab | undefined;
let blocker: ChildProcess | undefined;
const t0 = Date.now();

/** Holds h2's migration listener port bound but not listening, so h2's agent cannot listen there: a connect is refused. */
async function blockPort(): Promise<ChildProcess> {
  const code = `import socket, time\ns = socket.socket()\ns.bind((${JSON.stringify(h2)}, ${h2Listener}))\nprint("bound", flush=True)\ntime.sleep(3600)`;
  const p = spawn("python3", ["-c", code], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once("data", () => resolve());
    p.once("exit", (c) => reject(new Error(`port blocker exited (${c})`)));
  });
  return p;
}

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

beforeAll(async () => {
  blocker = await blockPort();
  d = await DroverLab.start({
    net: NET,
    hosts: 2,
    // A working set of random data under the bandwidth cap: the move runs long enough to be aborted.
    guests: [{ name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } }],
    scheduler: {
      policies: { balance: { mode: "off" } },
      migration: { bandwidthMiBs: 4, escalation: [] },
      cooldowns: { vmMs: 0, failureMs: 0, returnMs: 0 },
    },
  });
  await waitReady(d.api, 2, ["vm1"]);
}, 300_000);

afterAll(async () => {
  blocker?.kill();
  await d?.stop();
  process.stdout.write(`preflight.lab.test.ts: ${((Date.now() - t0) / 1000).toFixed(1)} s wall\n`);
});

const move = async (vm: string) => {
  const m = await call(d!.api, "POST", "/v1/migrations", ApiMigration, { vm, host: "h2" });
  return waitMigrationDone(d!.api, m.id);
};

describe("preflight on the lab", () => {
  it("migration ports: a destination range where nothing listens (refused) fails, naming address and port", async () => {
    const m = await move("vm1");
    expect(m.state).toBe("failed");
    expect(m.error?.code).toBe("preflight.migration-ports");
    expect(m.error?.message).toContain(`${h2}:${h2Listener}`);
    expect(m.error?.message).toMatch(/refused: nothing listens there/);
    expect(await d!.hostOf("vm1")).toBe("h1");
    // The port freed, h2's agent listens there at its next report.
    blocker!.kill();
    await vi.waitFor(async () => expect(await accepts(h2, h2Listener)).toBe(true), { timeout: 30_000, interval: 500 });
  });

  it("CPU: a TCG guest whose CPU definition requires a feature QEMU's TCG cannot give fails on the destination's comparison", async () => {
    const image = await ensureGuestImage();
    const xml = guestDomainXml({
      name: "cpuvm",
      kernel: image.kernel,
      initrd: image.initrd,
      serialPath: "/var/log/libvirt/qemu/cpuvm.serial",
      memoryMiB: 64,
    }).replace(
      /<\/vcpu>/,
      "</vcpu>\n  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model><feature policy='require' name='avx512f'/></cpu>",
    );
    const file = join(d!.stateDir, "cpuvm.xml");
    writeFileSync(file, xml);
    const uri = hostUri(hostAddress(NET, 1));
    execFileSync("virsh", ["-c", uri, "define", file]);
    execFileSync("virsh", ["-c", uri, "start", "cpuvm"]);
    await vi.waitFor(async () => expect((await vms(d!.api)).some((v) => v.name === "cpuvm")).toBe(true), { timeout: 30_000 });
    const m = await move("cpuvm");
    expect(m.state).toBe("failed");
    expect(m.error?.code).toBe("preflight.cpu-compatible");
    expect(m.error?.message).toMatch(/h2's TCG CPU is incompatible with the VM's CPU definition \(model qemu64, requiring avx512f\)/);
    execFileSync("virsh", ["-c", uri, "destroy", "cpuvm"]);
  });

  it("drover abort: a running move is aborted on its source, ends aborted naming who asked, the guest ticks on at the source", async () => {
    const api = d!.api;
    const started = await call(api, "POST", "/v1/migrations", ApiMigration, { vm: "vm1", host: "h2" });
    await vi.waitFor(
      async () => {
        const x = await call(api, "GET", `/v1/migrations/${started.id}`, ApiMigration);
        if (x.state !== "running" || (x.progress?.fraction ?? 0) <= 0) throw new Error(`waiting for the move to run: ${x.state}`);
      },
      { timeout: 60_000, interval: 250 },
    );
    const r = await drover(api, ["abort", started.id, "--wait", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const m = ApiMigration.parse(JSON.parse(r.stdout));
    expect(m.state).toBe("aborted");
    expect(m.error).toMatchObject({ code: "aborted-by-operator", message: expect.stringMatching(/^aborted at the request of /) });
    const before = await d!.ticks("vm1");
    expect(before.host).toBe("h1");
    await vi.waitFor(async () => expect((await d!.ticks("vm1")).last).toBeGreaterThan(before.last), { timeout: 30_000 });
    // Nothing left to abort: refused, naming its state.
    const again = await drover(api, ["abort", started.id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/is aborted: nothing to abort/);
  });
});
