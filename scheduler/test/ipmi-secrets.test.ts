// The BMC password reaches ipmitool through its environment (-E) or a file (-f), never its command
// line, and never shows in the config history, the API or the logs.
import { chmod, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Store } from "@drover/store";
import { memoryLogger } from "@drover/protocol/testing";
import { ConfigError, parseConfig, type PowerConfig } from "../src/config.js";
import { warnOfStartRisks } from "../src/config-check.js";
import { recordConfigChanges } from "../src/config-changes.js";
import { IpmiDriver, WakeError } from "../src/power/wake-drivers.js";
import { get, harness } from "./harness.js";
import { tempDir } from "./helpers.js";

const SECRET = "Bmc-s3cret-7f1d";
const minimal = { cluster: "prod", nats: { servers: ["nats://127.0.0.1:4222"] }, stateDir: "/var/lib/drover" };
const ipmiHost = (ipmi: Record<string, unknown>) => ({
  ...minimal,
  hosts: { kvm1: { power: { wake: "ipmi", address: "127.0.0.23", ipmi } } },
});

/**
 * A stand-in ipmitool: records the command line the kernel holds for it (/proc/<its pid>/cmdline,
 * the file any local user can read) and its IPMI_PASSWORD, then fails like an unreachable BMC.
 */
async function standIn(dir: string): Promise<{ path: string; seen: () => Promise<{ cmdline: string; env: string }[]> }> {
  const path = join(dir, "ipmitool");
  const out = join(dir, "seen");
  await writeFile(
    path,
    `#!/bin/sh\nn=$(date +%s%N)\ntr '\\0' ' ' < /proc/$$/cmdline > ${out}.$n.cmdline\nprintf '%s' "$IPMI_PASSWORD" > ${out}.$n.env\n` +
      `echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2\nexit 1\n`,
  );
  await chmod(path, 0o755);
  return {
    path,
    seen: async () => {
      const files = (await readdir(dir)).filter((f) => f.startsWith("seen.") && f.endsWith(".cmdline")).sort();
      return Promise.all(
        files.map(async (f) => ({
          cmdline: await readFile(join(dir, f), "utf8"),
          env: await readFile(join(dir, f.replace(/\.cmdline$/, ".env")), "utf8"),
        })),
      );
    },
  };
}

describe("IPMI secrets", () => {
  it("refuses a password in the config file and asks for exactly one of passwordEnv and passwordFile", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ user: "admin", password: SECRET }, /hosts\.kvm1\.power\.ipmi\.password: a password does not belong in the config file/],
      [{ user: "admin" }, /hosts\.kvm1\.power\.ipmi\.passwordEnv: exactly one of passwordEnv and passwordFile/],
      [{ user: "admin", passwordEnv: "X", passwordFile: "/etc/drover/bmc" }, /exactly one of passwordEnv and passwordFile/],
    ];
    for (const [ipmi, re] of bad) {
      const err = (() => {
        try {
          parseConfig(ipmiHost(ipmi));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
      // The refusal names the key, never the value.
      expect((err as Error).message).not.toContain(SECRET);
    }
    expect(parseConfig(ipmiHost({ user: "admin", passwordFile: "/etc/drover/bmc" })).hosts.kvm1!.power.ipmi!.passwordFile).toBe(
      "/etc/drover/bmc",
    );
  });

  it("warns at start of a BMC password a wake would not find (an unset variable, an unreadable file), never its value", async () => {
    await using dir = await tempDir();
    const byEnv = parseConfig(ipmiHost({ user: "admin", passwordEnv: "BMC_PASS" }));
    const unset = memoryLogger();
    await warnOfStartRisks(byEnv, unset, {});
    expect(unset.entries).toEqual([
      {
        level: "warn",
        obj: { host: "kvm1" },
        msg: "hosts.kvm1.power.ipmi.passwordEnv: environment variable BMC_PASS is not set: waking kvm1 would fail",
      },
    ]);
    const set = memoryLogger();
    await warnOfStartRisks(byEnv, set, { BMC_PASS: SECRET });
    expect(set.entries).toEqual([]);
    const missing = join(dir.path, "bmc");
    const byFile = memoryLogger();
    await warnOfStartRisks(parseConfig(ipmiHost({ user: "admin", passwordFile: missing })), byFile, {});
    expect(byFile.entries.map((e) => e.msg)).toEqual([
      `hosts.kvm1.power.ipmi.passwordFile: cannot read ${missing}: ENOENT: waking kvm1 would fail`,
    ]);
  });

  it("hands the password to the spawned ipmitool in its environment (-E) or as a file (-f), never on its command line", async () => {
    await using dir = await tempDir();
    const tool = await standIn(dir.path);
    const pwFile = join(dir.path, "bmc-password");
    await writeFile(pwFile, SECRET, { mode: 0o600 });
    const driver = new IpmiDriver({ ...process.env, BMC_PASS: SECRET });
    const cfg = (ipmi: Partial<NonNullable<PowerConfig["ipmi"]>>) =>
      parseConfig(ipmiHost({ user: "admin", ipmitool: tool.path, ...ipmi })).hosts.kvm1!.power;
    await expect(driver.wake("kvm1", cfg({ passwordEnv: "BMC_PASS" }))).rejects.toThrow(/Unable to establish IPMI/);
    await expect(driver.wake("kvm1", cfg({ passwordFile: pwFile }))).rejects.toThrow(/Unable to establish IPMI/);
    const [byEnv, byFile] = await tool.seen();
    expect(byEnv!.cmdline).toBe(`/bin/sh ${tool.path} -I lanplus -H 127.0.0.23 -U admin -E chassis power on `);
    expect(byEnv!.env).toBe(SECRET);
    expect(byFile!.cmdline).toBe(`/bin/sh ${tool.path} -I lanplus -H 127.0.0.23 -U admin -f ${pwFile} chassis power on `);
    expect(byFile!.env).toBe("");
    // Clear errors when the secret is not where the config says.
    await expect(new IpmiDriver({}).wake("kvm1", cfg({ passwordEnv: "BMC_PASS" }))).rejects.toThrow(/environment variable BMC_PASS/);
    await expect(driver.wake("kvm1", cfg({ passwordFile: join(dir.path, "missing") }))).rejects.toThrow(WakeError);
  });

  it("the real ipmitool reads the password from its environment; /proc/<pid>/cmdline does not hold it", async () => {
    const driver = new IpmiDriver({ ...process.env, BMC_PASS: SECRET });
    // No BMC answers on this loopback address: ipmitool retries, then gives up.
    const power = parseConfig(ipmiHost({ user: "admin", passwordEnv: "BMC_PASS" })).hosts.kvm1!.power;
    const wake = driver.wake("kvm1", power).then(
      () => null,
      (e: unknown) => e as Error,
    );
    const proc = await vi.waitFor(
      async () => {
        for (const pid of await readdir("/proc")) {
          if (!/^\d+$/.test(pid)) continue;
          const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
          if (cmdline.startsWith("ipmitool\0") && cmdline.includes("127.0.0.23")) {
            return { cmdline, environ: await readFile(`/proc/${pid}/environ`, "utf8") };
          }
        }
        throw new Error("ipmitool not running yet");
      },
      { timeout: 15_000, interval: 20 },
    );
    expect(proc.cmdline).not.toContain(SECRET);
    expect(proc.cmdline.split("\0")).toContain("-E");
    expect(proc.environ.split("\0")).toContain(`IPMI_PASSWORD=${SECRET}`);
    const err = await wake;
    // It got as far as talking to the BMC: the password was found (else "Unable to read password").
    expect(err?.message).toMatch(/Unable to establish IPMI/);
    expect(err?.message).not.toMatch(/Unable to read password/);
    expect(err?.message).not.toContain(SECRET);
  }, 60_000);

  it("the secret is in neither the config history, the API, nor the logs, even after a failed wake", async () => {
    await using dir = await tempDir();
    const tool = await standIn(dir.path);
    const log = memoryLogger();
    const ipmi = { wake: "ipmi" as const, address: "127.0.0.23", ipmi: { user: "admin", passwordEnv: "BMC_PASS", ipmitool: tool.path } };
    await using h = await harness(
      ["a", "b"],
      {},
      { hosts: { b: { power: ipmi } } },
      { logger: log, wakeDrivers: { ipmi: new IpmiDriver({ ...process.env, BMC_PASS: SECRET }) } },
    );
    await h.report();
    h.agents.up.delete("b");
    h.clock.advance(3500);
    await h.report(["a"]);
    await h.s.tick();
    const r = await h.s.power.wake("b", "test", "capacity");
    expect(r.ok).toBe(false);
    expect((await tool.seen()).map((s) => s.env)).toEqual([SECRET]);
    const api: string[] = [];
    for (const p of ["/v1/status", "/v1/hosts", "/v1/hosts/b", "/v1/history", "/v1/history?kind=config", "/openapi.json", "/metrics"]) {
      const res = await get(h.url(p));
      expect(res.status).toBe(200);
      api.push(await res.text());
    }
    expect(api.join("\n")).toContain("127.0.0.23");
    expect(api.join("\n")).not.toContain(SECRET);
    const history = JSON.stringify(h.s.store.config.list({ limit: 1000 }));
    expect(history).toContain("BMC_PASS");
    expect(history).not.toContain(SECRET);
    expect(log.text()).toContain("Unable to establish IPMI");
    expect(log.text()).not.toContain(SECRET);
  });

  it("config history redacts values under secret keys", async () => {
    await using dir = await tempDir();
    const store = Store.open({ path: join(dir.path, "s.sqlite") });
    try {
      recordConfigChanges(store, parseConfig({ ...minimal, nats: { servers: ["nats://127.0.0.1:4222"], user: "sched", pass: SECRET } }), 1);
      const text = JSON.stringify(store.config.list({ limit: 100 }));
      expect(text).toContain("sched");
      expect(text).not.toContain(SECRET);
    } finally {
      store.close();
    }
  });
});
