import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus } from "@drover/bus";
import { Lab } from "@drover/lab";
import { HostEvent, HostReport, silentLogger, subjects } from "@drover/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostAgent, resolveConfig } from "../src/index.js";
import { AGENT_BIN, Collector } from "./helpers.js";

// One lab host is enough here, on a net of its own (lab files run several at a time).
describe("agent lifecycle: in-process create/run/shutdown and the drover-agent binary", () => {
  let dir: string;
  let lab: Lab;
  let bus: Bus;
  let reports: Collector<HostReport>;
  let events: Collector<HostEvent>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-agent-life-"));
    lab = await Lab.start({
      hosts: 1,
      guests: 0,
      net: 22,
      stateDir: join(dir, "lab"),
      natsPort: 4222,
      wolPort: 9,
      cluster: "life",
      // The lab's NATS admits only identities it issued: these are the agents this file runs itself.
      agentIdentities: ["inproc", "binary"],
    });
    bus = await Bus.connect({ ...lab.busOptions("tools"), name: "lifecycle-test", logger: silentLogger });
    reports = new Collector(bus, subjects.allHostReports("life"), HostReport);
    events = new Collector(bus, subjects.allHostEvents("life"), HostEvent);
  });

  afterAll(async () => {
    await bus?.drain().catch(() => undefined);
    await lab?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("HostAgent.create -> run -> shutdown: reports, then stops cleanly", async () => {
    const config = resolveConfig({
      cluster: "life",
      host: "inproc",
      nats: lab.natsConnection("inproc"),
      libvirt: { uri: lab.host("h1").uri },
      reportIntervalMs: 500,
    });
    const agent = await HostAgent.create(config, { logger: silentLogger });
    const running = agent.run();
    const r = await reports.next("an in-process report", (m) => m.host === "inproc" && m.seq >= 2, 20_000);
    expect(r).toMatchObject({ cluster: "life", intervalMs: 500, vms: [], libvirt: { reachable: true } });
    expect(r.libvirt.version).toMatch(/^\d+\.\d+\.\d+$/);
    const direct = await agent.reportOnce();
    expect(direct.seq).toBeGreaterThan(r.seq);
    await agent.shutdown();
    await running;
    const n = reports.items.filter((m) => m.host === "inproc").length;
    await new Promise((res) => setTimeout(res, 1500));
    expect(reports.items.filter((m) => m.host === "inproc").length).toBe(n);
    expect(events.items.filter((e) => e.host === "inproc").map((e) => e.kind)).toEqual(["libvirt-up", "agent-started", "agent-stopping"]);
  });

  it("drover-agent --config FILE runs until SIGTERM, then exits 0", async () => {
    const file = join(dir, "agent.yaml");
    await writeFile(
      file,
      `cluster: life\nhost: binary\nnats: ${JSON.stringify(lab.natsConnection("binary"))}\nlibvirt:\n  uri: ${lab.host("h1").uri}\nreportIntervalMs: 500\n`,
    );
    const child = spawn(process.execPath, [AGENT_BIN, "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    try {
      await reports.next("a report from the binary", (m) => m.host === "binary", 30_000);
    } catch (e) {
      child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; agent stderr: ${stderr.slice(-2000)}`);
    }
    const t0 = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // The contract is systemd's: a unit that has not stopped within TimeoutStopSec (90 s by default) is killed.
    expect(Date.now() - t0).toBeLessThan(90_000);
    expect(events.items.filter((e) => e.host === "binary").map((e) => e.kind)).toContain("agent-stopping");
  });

  it("drover-agent refuses a bad config naming the key, with exit code 2", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, `cluster: life\nhost: binary\nnats:\n  servers: []\nreportIntervalMs: soon\n`);
    const child = spawn(process.execPath, [AGENT_BIN, "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/nats\.servers: at least one server URL is required/);
    expect(stderr).toMatch(/reportIntervalMs: /);
  });
});
