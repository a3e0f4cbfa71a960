// `drover install` from its bin into a throwaway root: the units, the users file and the config it
// writes, that a re-run never overwrites a config, and that systemd accepts the units
// (`systemd-analyze verify`, offline: it needs no running systemd).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = resolve(fileURLToPath(import.meta.url), "..", "..", "bin", "drover.js");
const REPO = resolve(fileURLToPath(import.meta.url), "..", "..", "..");
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const exec = (file: string, args: string[]) =>
  promisify(execFile)(file, args, { timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const drover = (args: string[]) => exec(process.execPath, [BIN, ...args]);
/** Offline verification of a unit file: exit code 0 and not one warning (systemd only warns about unknown or bad keys). */
const verify = (unit: string) => exec(SYSTEMD_ANALYZE, ["verify", "--man=no", unit]);

describe("drover install", { timeout: 120_000 }, () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "drover-install-"));
    for (const app of ["scheduler", "agent"]) {
      const r = await drover(["install", app, "--root", root]);
      expect(r.code, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("writes each app's unit with this node and this checkout, the users file and the generated config", async () => {
    for (const app of ["scheduler", "agent"]) {
      const unit = await readFile(join(root, `etc/systemd/system/drover-${app}.service`), "utf8");
      expect(unit).not.toMatch(/@NODE@|@DROVER@/);
      expect(unit).toContain(`ExecStart=${process.execPath} ${REPO}/`);
      expect(unit).toContain(`--config /etc/drover/${app}.yaml`);
      expect(unit).toMatch(/^Restart=on-failure$/m);
      expect(unit).toMatch(new RegExp(`^User=drover-${app}$`, "m"));
      expect(await readFile(join(root, `etc/drover/${app}.yaml`), "utf8")).toBe(
        await readFile(join(REPO, `deploy/config/${app}.yaml`), "utf8"),
      );
    }
    expect(await readFile(join(root, "etc/systemd/system/drover-agent.service"), "utf8")).toMatch(/^SupplementaryGroups=libvirt$/m);
    expect(await readFile(join(root, "etc/sysusers.d/drover.conf"), "utf8")).toMatch(/^m drover-agent libvirt$/m);
    expect((await stat(join(root, "etc/drover/scheduler.yaml"))).mode & 0o777).toBe(0o644);
  });

  it("never overwrites an existing config, says so, and tells what to edit", async () => {
    const file = join(root, "etc/drover/scheduler.yaml");
    await writeFile(file, "cluster: mine\n");
    const r = await drover(["install", "scheduler", "--root", root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("kept    /etc/drover/scheduler.yaml: it exists and is never overwritten");
    expect(r.stdout).toContain("unchanged /etc/systemd/system/drover-scheduler.service");
    expect(await readFile(file, "utf8")).toBe("cluster: mine\n");
    await rm(file);
    const again = await drover(["install", "scheduler", "--root", root]);
    expect(again.stdout).toContain("written /etc/drover/scheduler.yaml");
    expect(again.stdout).toContain("edit /etc/drover/scheduler.yaml: set cluster, nats.servers");
    // The unit's own command, checking the config before it is enabled.
    expect(again.stdout).toContain(
      `${process.execPath} ${REPO}/scheduler/bin/drover-scheduler.js --check --config /etc/drover/scheduler.yaml`,
    );
  });

  it("refuses an unknown app with a usage error", async () => {
    const r = await drover(["install", "nats", "--root", root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('install takes agent or scheduler, not "nats"');
  });

  // Skipped only where systemd-analyze is not installed (it is part of the systemd package).
  it.skipIf(!existsSync(SYSTEMD_ANALYZE))("systemd-analyze verify accepts both units, and rejects a broken one", async () => {
    for (const app of ["scheduler", "agent"]) {
      const r = await verify(join(root, `etc/systemd/system/drover-${app}.service`));
      expect({ code: r.code, stderr: r.stderr }, app).toEqual({ code: 0, stderr: "" });
    }
    // The check can fail: a misspelt key is a warning, a missing binary an error.
    const broken = join(root, "broken.service");
    const unit = await readFile(join(root, "etc/systemd/system/drover-scheduler.service"), "utf8");
    await writeFile(broken, unit.replace("Restart=on-failure", "Restart=on-failure\nRestartSecs=5"));
    expect((await verify(broken)).stderr).toContain("Unknown key 'RestartSecs'");
    await writeFile(broken, unit.replace(/^ExecStart=\S+/m, "ExecStart=/nonexistent/node"));
    const missing = await verify(broken);
    expect(missing.stderr).toContain("Command /nonexistent/node is not executable");
    expect(missing.code).not.toBe(0);
  });
});
