// `drover-agent --check`: the binary checks its config and the files it names, and connects to
// nothing (no NATS server or libvirtd runs here).
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_BIN } from "./helpers.js";

/** Its exit code, its plain lines and its log (JSON lines; the agent logs to stderr). */
async function run(args: string[]): Promise<{ code: number | null; said: string[]; log: string }> {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  const lines = (stdout + stderr).split("\n").filter(Boolean);
  return { code, said: lines.filter((l) => !l.startsWith("{")), log: lines.filter((l) => l.startsWith("{")).join("\n") };
}

describe("drover-agent --check", () => {
  let dir: string;
  const config = async (name: string, lines: string[]) => {
    const file = join(dir, name);
    await writeFile(file, ["cluster: lab", "host: h1", `stateDir: ${dir}`, ...lines, ""].join("\n"));
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-agentcheck-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("passes a usable config, warning of what it leaves in clear, and connects to nothing", async () => {
    const file = await config("good.yaml", ['nats: { servers: ["nats://127.0.0.1:1"] }', 'power: { offCommand: ["true"] }']);
    const r = await run(["--check", "--config", file]);
    expect(r.said).toEqual([`drover-agent: ${file}: config OK for host h1 of cluster lab`]);
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/"level":40.*migration\.tls is off/);
    expect(r.log).not.toMatch(/bus connected|agent started/);
  }, 90_000); // the binary compiles its TypeScript at start when its bundle is older than a source

  it("names each file an agent would fail on, by its key, and exits 2", async () => {
    const certDir = join(dir, "pki");
    await mkdir(certDir);
    const file = await config("bad.yaml", [
      `nats: { servers: ["nats://127.0.0.1:1"], tls: { ca: ${join(dir, "absent-ca.pem")} } }`,
      `migration: { tls: true, tlsCertDir: ${certDir} }`,
      `power: { offCommand: [systemclt, poweroff], offCwd: ${join(dir, "absent")} }`,
    ]);
    const r = await run(["--check", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.said).toEqual([
      `drover-agent: ${file}: nats.tls.ca: cannot read ${join(dir, "absent-ca.pem")}: ENOENT`,
      expect.stringMatching(new RegExp(`^drover-agent: ${file}: migration\\.tlsCertDir: no ca-cert\\.pem, .* in ${certDir}$`)),
      expect.stringMatching(
        new RegExp(`^drover-agent: ${file}: power\\.offCommand: systemclt is not an executable file on PATH \\(.+\\)$`),
      ),
      `drover-agent: ${file}: power.offCwd: ${join(dir, "absent")} is not a directory`,
    ]);
    expect(r.log).not.toMatch(/migration\.tls is off/);
  }, 90_000);

  it("refuses a config its schema refuses, as a start does", async () => {
    const file = await config("schema.yaml", ['nats: { servers: ["nats://nats1.example:4222"] }']);
    const r = await run(["--check", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.said.join("\n")).toMatch(/nats\.servers\.0: nats:\/\/nats1\.example:4222 is not on this machine and nats\.tls is not set/);
  }, 90_000);
});
