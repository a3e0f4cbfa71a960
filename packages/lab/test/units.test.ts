import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  expandTemplate,
  guestCmdline,
  guestDomainXml,
  hostAddress,
  hostMac,
  Lab,
  LabHost,
  migrationPorts,
  natsAddress,
  natsUrls,
  readFirstTick,
  readTicks,
  guestKernelDied,
} from "../src/index.js";
import { domainStateBeside } from "../src/ticks.js";
import { cpioArchive, S_IFREG } from "../src/cpio.js";
import { movedLive, ticksAbove } from "../src/testing/index.js";
import { readLabFile } from "../src/lab-state.js";

describe("address plan", () => {
  it("derives addresses, MACs and disjoint migration port ranges from net and index", () => {
    expect(hostAddress(9, 2)).toBe("127.0.9.2");
    expect(hostMac(9, 2)).toBe("02:d7:00:00:09:02");
    const ranges = [1, 2, 253].flatMap((net) => Array.from({ length: 16 }, (_, i) => migrationPorts(net, i + 1)));
    const ports = ranges.flatMap((r) => Array.from({ length: r.max - r.min + 1 }, (_, k) => r.min + k));
    expect(new Set(ports).size).toBe(ports.length);
    expect(Math.max(...ports)).toBeLessThan(32768);
    expect(() => hostAddress(0, 1)).toThrow(/net/);
    expect(() => hostAddress(1, 17)).toThrow(/host index/);
  });

  it("rejects a bad host name", () => {
    expect(() => new LabHost({ name: "H 1", index: 1, stateDir: "/tmp/x" })).toThrow(/host name/);
  });
});

describe("guest", () => {
  const base = { name: "vm1", kernel: "/k", initrd: "/i", serialPath: "/var/log/libvirt/qemu/vm1.serial" };

  it("builds domain XML with disk cache, bridges and escaped tags", () => {
    const xml = guestDomainXml({ ...base, diskPath: "/s/vm1.raw", diskCache: "writeback", bridges: ["br0"], tags: ["web", "a<b"] });
    expect(xml).toContain("cache='writeback'");
    expect(xml).toContain("<source bridge='br0'/>");
    expect(xml).toContain(
      "<drover:tags xmlns:drover='https://drover.dev/ns/1'><drover:tag>web</drover:tag><drover:tag>a&lt;b</drover:tag></drover:tags>",
    );
    expect(xml).toContain("<memory unit='MiB'>96</memory>");
    expect(guestDomainXml({ ...base, diskPath: "/d" })).toContain("cache='none'");
  });

  it("names the bad option", () => {
    expect(() => guestDomainXml({ ...base, name: "bad name" })).toThrow(/guest name/);
    expect(() => guestDomainXml({ ...base, memoryMiB: 10 })).toThrow(/memoryMiB/);
    expect(() => guestDomainXml({ ...base, diskCache: "fast" as never })).toThrow(/diskCache/);
    expect(() => guestCmdline({ dirtyMb: 1000 })).toThrow(/dirtyMb/);
    expect(guestCmdline({ dirtyRate: "max", busy: 1 })).toContain("drover.dirty_rate=max drover.busy=1 drover.dirty_change=0");
    expect(guestCmdline({ changing: true })).toContain("drover.dirty_change=1");
  });

  it("reads the last complete tick line only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "drover-ticks-"));
    const f = join(dir, "s");
    expect(await readTicks(f)).toBe(0);
    await writeFile(f, "\x1b[2Jboot\r\ntick 41\r\ntick 42\r\ntick 4");
    expect(await readTicks(f)).toBe(42);
    expect(await readFirstTick(f)).toBe(41);
    await rm(dir, { recursive: true });
  });

  it("tells a guest whose kernel died after a tick from one that only stopped ticking", () => {
    // Lines as a lab guest printed them after a TCG live migration lost its dirty pages.
    const before = "drover-guest: dirty_mb=8\r\ntick 1\r\ntick 2\r\ntick 45\r\ntick 46\r\n";
    const panic = "[   81.814370] Kernel panic - not syncing: Fatal exception in interrupt\r\n";
    expect(guestKernelDied(before, 46)).toBeNull();
    expect(guestKernelDied(before + panic, 46)).toBe(panic.trim());
    // A silent reboot (a triple fault prints nothing): the counter starts again.
    expect(guestKernelDied(`${before}drover-guest: dirty_mb=8\r\ntick 1\r\ntick 2\r\n`, 46)).toBe(
      "tick counter started again: tick 46 then tick 1",
    );
    // An earlier crash the guest has since ticked past is not evidence about this wait.
    expect(guestKernelDied(`tick 5\r\n${panic}tick 1\r\ntick 9\r\n`, 9)).toBeNull();
    expect(guestKernelDied("", 3)).toBeNull();
  });

  it("lets a silent guest pass only when libvirtd there runs its domain and it arrived by migration", async () => {
    const host = await mkdtemp(join(tmpdir(), "drover-silent-"));
    await mkdir(join(host, "log", "qemu"), { recursive: true });
    await mkdir(join(host, "run", "qemu"), { recursive: true });
    const serial = join(host, "log", "qemu", "vm1.serial");
    await writeFile(serial, "tick 41\r\n");
    const status = (state: string, reason: string) =>
      writeFile(join(host, "run", "qemu", "vm1.xml"), `<!-- -->\n<domstatus state='${state}' reason='${reason}' pid='1'>\n`);
    await expect(ticksAbove("vm1", serial, 41, 300)).rejects.toThrow(/41 ticks .*; no domain of it there/);
    await status("paused", "migration");
    expect(await domainStateBeside(serial)).toEqual({ state: "paused", reason: "migration" });
    await expect(ticksAbove("vm1", serial, 41, 300)).rejects.toThrow(/its domain is paused \(migration\)/);
    await status("running", "booted");
    await expect(ticksAbove("vm1", serial, 41, 300)).rejects.toThrow(/its domain is running \(booted\)/);
    await status("running", "migrated");
    expect(await ticksAbove("vm1", serial, 41, 300)).toBe(41);
    await rm(host, { recursive: true });
  });

  it("takes a guest as moved live only when libvirtd there says it arrived by migration, whatever it printed", async () => {
    const host = await mkdtemp(join(tmpdir(), "drover-moved-"));
    await mkdir(join(host, "log", "qemu"), { recursive: true });
    await mkdir(join(host, "run", "qemu"), { recursive: true });
    const serial = join(host, "log", "qemu", "vm1.serial");
    const status = (state: string, reason: string) =>
      writeFile(join(host, "run", "qemu", "vm1.xml"), `<domstatus state='${state}' reason='${reason}' pid='1'>\n`);
    // Started afresh there: fails at once, though its counter has passed the mark.
    await writeFile(serial, "tick 1\r\ntick 50\r\n");
    await expect(movedLive("vm1", serial, 41, 300)).rejects.toThrow(/vm1: not arrived by live migration: no domain of it there/);
    await status("running", "booted");
    await expect(movedLive("vm1", serial, 41, 300)).rejects.toThrow(/its domain is running \(booted\)/);
    for (const reason of ["migrated", "unpaused", "postcopy"]) {
      await status("running", reason);
      expect(await movedLive("vm1", serial, 41, 300)).toBe(50);
    }
    // Still arriving (paused for the migration): waited for until libvirtd records it running.
    await status("paused", "migration");
    const arriving = movedLive("vm1", serial, 41, 5000);
    await new Promise((r) => setTimeout(r, 500));
    await status("running", "migrated");
    expect(await arriving).toBe(50);
    // Arrived, but not ticking past the mark and not dead by QEMU's TCG: the wait fails.
    await status("running", "unpaused");
    await expect(movedLive("vm1", serial, 50, 300)).rejects.toThrow(/50 ticks .* want more than 50; its domain is running \(unpaused\)/);
    await rm(host, { recursive: true });
  });
});

describe("cpio newc", () => {
  it("pads headers and data to 4 bytes and ends with a trailer", () => {
    const a = cpioArchive([{ path: "init", mode: S_IFREG | 0o755, data: Buffer.from("abc") }]);
    expect(a.subarray(0, 6).toString()).toBe("070701");
    expect(a.length % 4).toBe(0);
    expect(a.includes(Buffer.from("TRAILER!!!\0"))).toBe(true);
    // header 110 + "init\0" 5 = 115 -> pad to 116, data 3 -> pad to 120, then the trailer header
    expect(a.subarray(120, 126).toString()).toBe("070701");
  });
});

describe("command templates", () => {
  it("expands placeholders and refuses unknown ones", () => {
    const vars = { host: "h1", nats: "nats://127.0.1.254:4222" };
    expect(expandTemplate("agent", { cmd: "a", args: ["--host=${host}"], env: { N: "${nats}" } }, vars)).toEqual({
      cmd: "a",
      args: ["--host=h1"],
      env: { N: "nats://127.0.1.254:4222" },
    });
    expect(() => expandTemplate("agent", { cmd: "a", args: ["${nope}"] }, vars)).toThrow(/agent.args/);
    expect(() => expandTemplate("agent", { cmd: "", args: [] }, vars)).toThrow(/agent.cmd/);
  });
});

describe("Lab.start option errors (nothing is started)", () => {
  it("names the bad option", async () => {
    const stateDir = "/nonexistent/drover-lab-never-created";
    await expect(Lab.start({ hosts: 0, stateDir })).rejects.toThrow(/hosts: got 0/);
    await expect(Lab.start({ hosts: 17, stateDir })).rejects.toThrow(/hosts/);
    await expect(Lab.start({ net: 254, stateDir })).rejects.toThrow(/net: got 254/);
    await expect(Lab.start({ guests: -1, stateDir })).rejects.toThrow(/guests/);
    await expect(Lab.start({ cluster: "a.b", stateDir })).rejects.toThrow(/cluster/);
    await expect(Lab.start({ network: "bridge" as never, stateDir })).rejects.toThrow(/network/);
    await expect(Lab.start({ wolPort: 70000, stateDir })).rejects.toThrow(/wolPort/);
    await expect(Lab.start({ hosts: 2, withoutMigrationCerts: ["h3"], stateDir })).rejects.toThrow(/withoutMigrationCerts: got "h3"/);
    await expect(Lab.start({ natsNodes: 4, stateDir })).rejects.toThrow(/natsNodes: got 4/);
    await expect(Lab.start({ natsNodes: 3, network: "netns", stateDir })).rejects.toThrow(/natsNodes: got 3.*loopback only/);
    await expect(Lab.start({ schedulers: 0, stateDir })).rejects.toThrow(/schedulers: got 0/);
  });
});

describe("NATS cluster addresses and lab.json", () => {
  it("puts node k on .<255-k> and lists every node's URL", () => {
    expect(natsUrls(9, 3)).toEqual(["nats://127.0.9.254:4222", "nats://127.0.9.253:4222", "nats://127.0.9.252:4222"]);
    expect(natsAddress(9)).toBe("127.0.9.254");
    expect(() => natsAddress(9, 4)).toThrow(/nats node/);
  });

  it("reads a lab.json of the one-NATS, one-scheduler shape as lists, so such a lab is still stopped by pid", async () => {
    const dir = await mkdtemp(join(tmpdir(), "drover-labfile-"));
    try {
      const nats = { pid: 4242, startTime: 7 };
      const scheduler = {
        name: "scheduler",
        spec: { cmd: "s", args: [] },
        logFile: join(dir, "scheduler.log"),
        proc: { pid: 4343, startTime: 8 },
      };
      const legacy = {
        version: 1,
        stateDir: dir,
        natsUrl: "nats://127.0.9.254:4222",
        nats,
        natsCommand: { cmd: "nats-server", args: [] },
        scheduler,
      };
      await writeFile(join(dir, "lab.json"), JSON.stringify(legacy));
      const f = await readLabFile(dir);
      expect(f?.natsNodes).toEqual([
        {
          name: "n1",
          url: "nats://127.0.9.254:4222",
          monitorUrl: null,
          command: { cmd: "nats-server", args: [] },
          logFile: join(dir, "nats.log"),
          proc: nats,
        },
      ]);
      expect(f?.schedulers).toEqual([scheduler]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
