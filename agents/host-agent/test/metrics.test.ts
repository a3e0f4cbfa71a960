import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { Command, CommandReply, HostEvent, HostReport, silentLogger, subjects } from "@drover/protocol";
import { memoryLogger, migrateCommand } from "@drover/protocol/testing";
import type { z } from "zod";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HostAgent, resolveConfig, type AgentConfigInput } from "../src/index.js";
import { AGENT_BIN, Collector } from "./helpers.js";

/** The value of the one series `name{labels}` (labels in the order the agent writes them). */
function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

const mountLines = (n: number) => Array.from({ length: n }, (_, i) => `/dev/vd${i} /srv/disk-${i} ext4 rw 0 0`).join("\n");

// A real agent on a real nats-server, with no libvirtd (its socket does not exist): libvirt calls
// fail, and are timed all the same. The server's max_payload is small, so a report that grows
// past it (many mounts) is refused by the bus and counted.
describe("the agent's /metrics", () => {
  let nats: NatsServer;
  let dir: string;
  let bus: Bus;
  const base = (over: Partial<AgentConfigInput> = {}) =>
    resolveConfig({
      cluster: "lab",
      host: "h1",
      nats: { servers: [nats.url] },
      libvirt: { uri: `qemu+unix:///system?socket=${join(dir, "absent.sock")}` },
      reportIntervalMs: 200,
      dirtyRate: { enabled: false },
      storage: { mountsFile: join(dir, "mounts") },
      metrics: { port: 0 },
      ...over,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-agentmetrics-"));
    await writeFile(join(dir, "nats.conf"), "max_payload: 8192\n");
    await writeFile(join(dir, "mounts"), mountLines(2));
    nats = await NatsServer.start({ configFile: join(dir, "nats.conf") });
    bus = await Bus.connect({ servers: [nats.url], name: "test", logger: silentLogger });
  });

  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("counts reports, report errors, commands and libvirt calls by call, on loopback", async () => {
    const agent = await HostAgent.create(base(), { logger: silentLogger });
    const events = new Collector(bus, subjects.hostEvent("lab", "h1"), HostEvent);
    await bus.flush(); // the server has the subscription before the agent's first event
    const running = agent.run();
    try {
      await events.next("agent-started", (e) => e.kind === "agent-started");
      const url = agent.metricsUrl!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const scrape = async () => (await fetch(url)).text();
      await expect.poll(async () => value(await scrape(), "drover_agent_reports_total"), { timeout: 15_000 }).toBeGreaterThan(0);
      // Connecting to the absent socket fails (on a libvirt worker thread: it may settle after a report).
      const opens = 'drover_agent_libvirt_call_seconds_count{call="open",result="error"}';
      await expect.poll(async () => (await scrape()).includes(opens), { timeout: 20_000 }).toBe(true);
      let t = await scrape();
      expect(value(t, opens)).toBeGreaterThan(0);
      expect(value(t, "drover_agent_libvirt_up")).toBe(0);
      expect(value(t, "drover_agent_nats_connected")).toBe(1);
      expect(value(t, "drover_agent_migrations_running")).toBe(0);
      expect(t).not.toContain("drover_agent_report_errors_total{");

      // A migrate to a peer the agent never heard of is refused (no job starts).
      const reply = await bus.request(
        subjects.hostCommand("lab", "h1"),
        Command,
        migrateCommand({ id: "c1", migrationId: "m1", destination: { host: "h9", uri: "qemu+tcp://127.0.1.9/system" } }) as z.input<
          typeof Command
        >,
        CommandReply,
        { timeoutMs: 20_000 },
      );
      expect(reply.status).toBe("refused");
      t = await scrape();
      expect(value(t, 'drover_agent_commands_handled_total{kind="migrate",outcome="refused"}')).toBe(1);
      expect(t).not.toContain("drover_agent_migrations_total{");

      // Past max_payload: every report is refused by the bus from now on.
      await writeFile(join(dir, "mounts"), mountLines(300));
      await expect
        .poll(async () => value(await scrape(), 'drover_agent_report_errors_total{stage="publish"}'), { timeout: 15_000 })
        .toBeGreaterThan(0);

      expect((await fetch(url.replace("/metrics", "/"))).status).toBe(404);
    } finally {
      events.stop();
      await agent.shutdown();
      await running;
      await writeFile(join(dir, "mounts"), mountLines(2));
    }
  }, 60_000);

  it("runs on, reporting, without metrics when their port is taken, and serves none when they are off", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    const reports = new Collector(bus, subjects.hostReport("lab", "h1"), HostReport);
    await bus.flush();
    try {
      for (const metrics of [{ port }, { enabled: false }]) {
        const agent = await HostAgent.create(base({ metrics }), { logger: silentLogger });
        const running = agent.run();
        const seen = reports.items.length;
        await reports.next("a report", () => true, 15_000, seen);
        expect(agent.metricsUrl).toBeNull();
        await agent.shutdown();
        await running;
      }
    } finally {
      reports.stop();
      await new Promise((r) => taken.close(r));
    }
  }, 60_000);

  it("warns at start that migrations go in clear while migration.tls is off, and not when it is on", async () => {
    const warnings = async (over: Partial<AgentConfigInput>) => {
      const log = memoryLogger();
      const agent = await HostAgent.create(base({ metrics: { enabled: false }, ...over }), { logger: log });
      await agent.shutdown();
      return log.entries.filter((e) => e.level === "warn" && e.msg.includes("migration.tls")).map((e) => e.msg);
    };
    expect(await warnings({})).toEqual([
      expect.stringMatching(/migration\.tls is off: a migrating guest's memory crosses the network in clear/),
    ]);
    expect(await warnings({ migration: { tls: true, tlsCertDir: dir } })).toEqual([]);
  });

  it("refuses a listen address that is not an IP, naming the key", () => {
    expect(() => base({ metrics: { host: "localhost" } })).toThrow(/metrics\.host: must be an IP address/);
    expect(() => base({ metrics: { port: 70000 } })).toThrow(/metrics\.port/);
  });

  it("serves the process's own RSS and CPU from the drover-agent binary, at the address its config names", async () => {
    const config = join(dir, "agent.yaml");
    await writeFile(
      config,
      [
        "cluster: lab",
        "host: h2",
        `nats: { servers: ["${nats.url}"] }`,
        `libvirt: { uri: "qemu+unix:///system?socket=${join(dir, "absent.sock")}" }`,
        `stateDir: ${dir}`,
        `storage: { mountsFile: ${join(dir, "mounts")} }`,
        "metrics: { host: 127.0.0.1, port: 0 }",
        "",
      ].join("\n"),
    );
    const child = spawn(process.execPath, [AGENT_BIN, "--config", config], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    try {
      const url = await vi.waitFor(
        () => {
          const m = /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(log);
          if (!m) throw new Error(`waiting for "metrics served" in the agent's log:\n${log}`);
          return m[1]!;
        },
        { timeout: 60_000, interval: 100 },
      );
      const t = await (await fetch(url)).text();
      expect(value(t, "process_resident_memory_bytes")).toBeGreaterThan(0);
      expect(value(t, "process_cpu_seconds_total")).toBeGreaterThan(0);
      expect(t).toContain("# TYPE drover_agent_libvirt_call_seconds histogram");
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  }, 90_000); // the binary compiles its TypeScript at start when its bundle is older than a source
});
