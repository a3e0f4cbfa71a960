import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectionFiles, writeCredentials } from "@drover/bus";
import { StatusResponse } from "@drover/protocol";
import { NatsServer, tempDir } from "./helpers.js";

const BIN = join(import.meta.dirname, "..", "bin", "drover-scheduler.js");

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, output: () => out };
}

describe("drover-scheduler binary", () => {
  it("makes an admin token on the host, starts from a YAML config, serves the API to that token only, and stops cleanly on SIGTERM", async () => {
    await using nats = await NatsServer.start();
    await using dir = await tempDir();
    const cfg = join(dir.path, "scheduler.yaml");
    await writeFile(cfg, `cluster: bin\nnats:\n  servers: ["${nats.url}"]\nstateDir: ${join(dir.path, "state")}\nhttp:\n  port: 0\n`);
    const made = run(["token", "create", "--config", cfg, "--role", "admin", "--name", "root"]);
    expect(await made.exited).toBe(0);
    // stdout holds the token alone; the note goes to stderr (both are captured here, in any order).
    const token = /^drover_[A-Za-z0-9_-]{43}$/m.exec(made.output())?.[0];
    expect(token).toBeDefined();
    const again = run(["token", "create", "--config", cfg, "--role", "admin", "--name", "root"]);
    expect(await again.exited).toBe(1);
    expect(again.output()).toMatch(/token named 'root' already exists/);
    const temp = run(["token", "create", "--config", cfg, "--role", "viewer", "--name", "temp", "--expires", "1d"]);
    expect(await temp.exited).toBe(0);
    expect(temp.output()).toMatch(/token "temp" \(viewer, until \d{4}-\d\d-\d\dT[\d:.]+Z\) created/);
    const soon = run(["token", "create", "--config", cfg, "--role", "viewer", "--name", "soon", "--expires", "soon"]);
    expect(await soon.exited).toBe(2);
    expect(soon.output()).toMatch(/^drover-scheduler token: --expires "soon" is neither an ISO time/);
    const list = run(["token", "list", "--config", cfg]);
    expect(await list.exited).toBe(0);
    expect(list.output()).toMatch(/^root\tadmin\tactive\tnever used\ntemp\tviewer\tactive, expires \d{4}-[^\t]+\tnever used\n/m);
    const p = run(["--config", cfg]);
    try {
      await expect
        .poll(() => p.output(), { timeout: 60_000, interval: 100, message: "scheduler started" })
        .toMatch(/"msg":"scheduler started"/);
      const addr = /"http":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(p.output())![1]!;
      expect((await fetch(`${addr}/v1/status`)).status).toBe(401);
      const status = StatusResponse.parse(
        await (await fetch(`${addr}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json(),
      );
      expect(status.cluster).toBe("bin");
    } finally {
      p.child.kill("SIGTERM");
    }
    expect(await p.exited).toBe(0);
    const used = run(["token", "list", "--config", cfg]);
    expect(await used.exited).toBe(0);
    expect(used.output()).toMatch(/^root\tadmin\tactive\tused \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
  }, 90_000);

  it("refuses a bad config or command line in one line naming what is wrong, with exit code 2 (as drover-agent)", async () => {
    await using dir = await tempDir();
    const cfg = join(dir.path, "bad.yaml");
    await writeFile(cfg, `cluster: x\nnats: { servers: ["nats://127.0.0.1:1"] }\nstateDir: /tmp/x\nlimits: { perCluster: 0 }\n`);
    const p = run(["--config", cfg]);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/^drover-scheduler: .*limits\.perCluster/);
    await writeFile(cfg, `cluster: x\nnats: { servers: ["nats://127.0.0.1:1"] }\nstateDir: /tmp/x\nhttp: { host: 0.0.0.0 }\n`);
    const open = run(["--config", cfg]);
    expect(await open.exited).toBe(2);
    expect(open.output()).toMatch(/^drover-scheduler: .*http\.host: is reachable from other machines/);
    const unknown = run(["--bogus"]);
    expect(await unknown.exited).toBe(2);
    expect(unknown.output()).toMatch(/^drover-scheduler: Unknown option '--bogus'\n$/);
    const help = run(["--help"]);
    expect(await help.exited).toBe(0);
    expect(help.output()).toMatch(/^usage: drover-scheduler \[--check\] --config FILE/);
  }, 60_000);

  it("--check passes a usable config and names, by key, each file a scheduler would fail on, connecting to nothing", async () => {
    await using dir = await tempDir();
    const cfg = join(dir.path, "scheduler.yaml");
    const base = `cluster: chk\nnats: { servers: ["nats://127.0.0.1:1"] }\n`;
    await writeFile(cfg, `${base}stateDir: ${join(dir.path, "new", "state")}\n`);
    const good = run(["--check", "--config", cfg]);
    expect(await good.exited).toBe(0);
    expect(good.output()).toBe(`drover-scheduler: ${cfg}: config OK for cluster chk\n`);

    const secret = join(dir.path, "hook.secret");
    await writeFile(secret, "");
    await writeFile(join(dir.path, "file"), "not a directory");
    const absent = (name: string) => join(dir.path, "absent", name);
    await writeFile(
      cfg,
      base.replace("] }", `], tls: { ca: ${absent("ca.pem")} } }`) +
        `stateDir: ${join(dir.path, "file", "state")}\n` +
        `http: { tls: { cert: ${absent("api.pem")}, key: ${absent("api.key")} } }\n` +
        `webhooks: { receivers: [{ url: "https://hooks.example/d", secretFile: ${secret} }] }\n` +
        `hosts: { kvm1: { power: { wake: ipmi, address: 192.0.2.10, ipmi: { user: admin, passwordFile: ${absent("bmc")} } } } }\n`,
    );
    const bad = run(["--check", "--config", cfg]);
    expect(await bad.exited).toBe(2);
    expect(bad.output().split("\n").filter(Boolean)).toEqual([
      `drover-scheduler: ${cfg}: nats.tls.ca: cannot read ${absent("ca.pem")}: ENOENT`,
      `drover-scheduler: ${cfg}: http.tls.cert: cannot read ${absent("api.pem")}: ENOENT`,
      `drover-scheduler: ${cfg}: webhooks.receivers.0.secretFile: ${secret} is empty`,
      `drover-scheduler: ${cfg}: hosts.kvm1.power.ipmi.passwordFile: cannot read ${absent("bmc")}: ENOENT`,
      `drover-scheduler: ${cfg}: stateDir: ${join(dir.path, "file")} is not a directory`,
    ]);
  }, 60_000);

  it("a start that fails after NATS connected (its API port taken) ends the process with exit 1", async () => {
    await using nats = await NatsServer.start();
    await using dir = await tempDir();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    try {
      const port = (taken.address() as AddressInfo).port;
      const cfg = join(dir.path, "scheduler.yaml");
      await writeFile(
        cfg,
        `cluster: bin\nnats:\n  servers: ["${nats.url}"]\nstateDir: ${join(dir.path, "state")}\nhttp:\n  port: ${port}\n`,
      );
      const p = run(["--config", cfg]);
      // Before, its NATS connection stayed open and the process with it: a service "running" with no API.
      expect(await p.exited).toBe(1);
      expect(p.output()).toContain(`address already in use 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  }, 60_000);

  it("started with another identity (a host's seed) on a secured NATS, it names it and exits 1, leaving nothing open", async () => {
    await using dir = await tempDir();
    const creds = await writeCredentials({
      dir: join(dir.path, "creds"),
      cluster: "bin",
      hosts: ["h1"],
      servers: ["nats://127.0.0.1:4222"],
    });
    await using nats = await NatsServer.start({ configFile: creds.serverConfigFile });
    const files = connectionFiles(creds, "host-h1", [nats.url]);
    const cfg = join(dir.path, "scheduler.yaml");
    await writeFile(
      cfg,
      `cluster: bin\nnats:\n  servers: ["${nats.url}"]\n  nkeySeedFile: ${files.nkeySeedFile}\n  tls:\n    ca: ${files.tls!.ca}\n` +
        `    cert: ${files.tls!.cert}\n    key: ${files.tls!.key}\nstateDir: ${join(dir.path, "state")}\nhttp:\n  port: 0\n`,
    );
    const p = run(["--config", cfg]);
    // Before, the start failed setting up JetStream ("does nats-server run with JetStream?") and the
    // process stayed up, its NATS connection open.
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain(
      `this NATS identity may not subscribe to _INBOX.drover.v1.bin.scheduler.identity-check: is ${files.nkeySeedFile} ` +
        "the scheduler's of cluster bin (drover credentials --cluster bin)?",
    );
  }, 60_000);
});
