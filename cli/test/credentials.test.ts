// `drover credentials` from its bin: what it writes, that a re-run keeps keys, that it never
// prints a seed, and that the config it writes starts a nats-server the snippets connect to.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Bus, NatsConnectionConfig, busConnectionOptions } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { silentLogger } from "@drover/protocol";

const BIN = resolve(fileURLToPath(import.meta.url), "..", "..", "bin", "drover.js");
const run = async (args: string[]) =>
  promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe("drover credentials", { timeout: 300_000 }, () => {
  let dir: string;
  let out: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-cli-creds-"));
    out = join(dir, "creds");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("issues identities, adds a host without touching the others, revokes one, never prints a seed", async () => {
    const first = await run(["credentials", "--cluster", "prod", "--out", out, "--host", "h1,h2", "--tools", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(["host-h1.seed", "agent-h1.yaml", "scheduler.yaml", "tools.yaml", "nats-server.conf"]));
    for (const f of files) expect((await stat(join(out, f))).mode & 0o777, f).toBe(0o600);
    const seeds = await Promise.all(["host-h1", "host-h2", "scheduler", "tools"].map((n) => readFile(join(out, `${n}.seed`), "utf8")));
    const h1Seed = seeds[0]!;

    const second = await run(["credentials", "--cluster", "prod", "--out", out, "--host", "h3", "--revoke", "h2"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/added: host-h3/);
    expect(second.stdout).toMatch(/revoked: host-h2 \(reload nats-server/);
    expect(await readFile(join(out, "host-h1.seed"), "utf8")).toBe(h1Seed);
    expect(await readdir(out)).not.toContain("agent-h2.yaml");
    for (const s of seeds) expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain(s.trim());

    const bad = await run(["credentials", "--cluster", "prod", "--out", out, "--host", "no good"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--host: "no good" is not a host id/);
  });

  it("the snippets connect to a nats-server started with the written config", async () => {
    await using server = await NatsServer.start({ configFile: join(out, "nats-server.conf") });
    const snippet = NatsConnectionConfig.parse((parse(await readFile(join(out, "scheduler.yaml"), "utf8")) as { nats: unknown }).nats);
    await using bus = await Bus.connect({
      ...busConnectionOptions({ ...snippet, servers: [server.url] }),
      name: "cli-test",
      logger: silentLogger,
    });
    await bus.flush();
    expect(bus.isConnected).toBe(true);
  });
});
