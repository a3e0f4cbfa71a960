import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Store } from "@drover/store";
import { recordConfigChanges } from "../src/config-changes.js";
import { ConfigError, loadConfig, parseConfig } from "../src/config.js";
import { tempDir } from "./helpers.js";

const minimal = { cluster: "prod", nats: { servers: ["nats://127.0.0.1:4222"] }, stateDir: "/var/lib/drover" };

describe("config", () => {
  it("fills every default from a minimal config", () => {
    const c = parseConfig(minimal);
    expect(c.http).toEqual({ host: "127.0.0.1", port: 7070, trustProxy: [] });
    expect(c.reports).toMatchObject({ intervalMs: 5000, unreachableAfter: 3 });
    expect(c.policies.balance.mode).toBe("recommend");
    expect(c.policies.consolidate).toMatchObject({ mode: "off", window: { start: "22:00", end: "06:00" } });
    expect(c.limits).toEqual({ perSource: 2, perDestination: 2, perCluster: 8 });
    expect(c.migration.escalation[0]).toEqual({ action: "raise-downtime", toMs: 1000 });
  });

  it("names the bad key", () => {
    const cases: [unknown, RegExp][] = [
      [{ ...minimal, limits: { perSource: 0 } }, /limits\.perSource/],
      [{ ...minimal, policies: { balance: { mode: "sometimes" } } }, /policies\.balance\.mode/],
      [
        { ...minimal, policies: { consolidate: { window: { start: "25:00", end: "06:00" } } } },
        /policies\.consolidate\.window\.start: must be HH:MM/,
      ],
      [
        { ...minimal, hosts: { kvm1: { power: { wake: "wol", address: "127.0.9.1" } } } },
        /hosts\.kvm1\.power\.mac: required when wake is wol/,
      ],
      [{ ...minimal, hosts: { kvm1: { power: { wake: "ipmi", address: "127.0.9.1" } } } }, /hosts\.kvm1\.power\.ipmi/],
      [{ ...minimal, hosts: { kvm1: { power: { idleW: 90 } } } }, /hosts\.kvm1\.power\.maxW: idleW and maxW go together/],
      [{ ...minimal, hosts: { kvm1: { power: { idleW: 90, maxW: 80 } } } }, /hosts\.kvm1\.power\.maxW: must be >= idleW/],
      [{ ...minimal, nats: {} }, /nats\.servers/],
      [{ ...minimal, typo: 1 }, /typo/],
      [{ ...minimal, cluster: "a.b" }, /cluster/],
    ];
    for (const [input, re] of cases) expect(() => parseConfig(input)).toThrow(re);
  });

  it("takes reverse proxies as addresses or CIDR ranges, and names an entry that is neither or that is everyone", () => {
    expect(parseConfig(minimal).http.trustProxy).toEqual([]);
    const proxies = ["127.0.0.1", "192.0.2.0/24", "2001:db8::/32", "::1"];
    expect(parseConfig({ ...minimal, http: { trustProxy: proxies } }).http.trustProxy).toEqual(proxies);
    for (const bad of ["proxy.example", "192.0.2.0/33", "2001:db8::/129", "192.0.2.1/24/8", "192.0.2.0/"])
      expect(() => parseConfig({ ...minimal, http: { trustProxy: [bad] } }), bad).toThrow(
        /http\.trustProxy\.0: must be an IP address or a CIDR range/,
      );
    for (const everyone of ["0.0.0.0/0", "::/0"])
      expect(() => parseConfig({ ...minimal, http: { trustProxy: ["127.0.0.1", everyone] } }), everyone).toThrow(
        /http\.trustProxy\.1: trusts every address, so any client could choose the address it is logged by/,
      );
  });

  it("refuses plain HTTP and NATS to other machines unless told, naming the key", () => {
    const everywhere = { ...minimal, http: { host: "0.0.0.0" } };
    expect(() => parseConfig(everywhere)).toThrow(
      /http\.host: is reachable from other machines and http\.tls is not set: .*http\.insecure: true/,
    );
    expect(parseConfig({ ...minimal, http: { host: "0.0.0.0", insecure: true } }).http.host).toBe("0.0.0.0");
    expect(parseConfig({ ...minimal, http: { host: "sched.example", tls: { cert: "/c.pem", key: "/k.pem" } } }).http.tls).toBeDefined();
    expect(parseConfig({ ...minimal, http: { host: "::1" } }).http.host).toBe("::1");
    const remote = { ...minimal, nats: { servers: ["nats://nats.example:4222"], nkeySeedFile: "/etc/drover/scheduler.seed" } };
    expect(() => parseConfig(remote)).toThrow(
      /nats\.servers\.0: nats:\/\/nats\.example:4222 is not on this machine and nats\.tls is not set/,
    );
    expect(parseConfig({ ...remote, nats: { ...remote.nats, tls: { ca: "/etc/drover/ca.pem" } } }).nats.servers).toHaveLength(1);
  });

  it("checks policy arguments and planner settings at load, naming the key", () => {
    const cases: [unknown, RegExp][] = [
      [{ ...minimal, policies: { consolidate: { args: { band: { low: "x" } } } } }, /policies\.consolidate\.args\.band\.low: /],
      [{ ...minimal, policies: { consolidate: { args: { packTarget: 0.8 } } } }, /policies\.consolidate\.args\.packTarget: unknown key/],
      [{ ...minimal, policies: { balance: { args: { aggressiveness: 9 } } } }, /policies\.balance\.args\.aggressiveness: /],
      [{ ...minimal, policies: { drain: { args: { parkingCandidates: -1 } } } }, /policies\.drain\.args\.parkingCandidates: /],
      // The arguments are those of the policy the entry names, not of its kind.
      [
        { ...minimal, policies: { balance: { policy: "drain", args: { aggressiveness: 2 } } } },
        /policies\.balance\.args\.aggressiveness: unknown key/,
      ],
      [{ ...minimal, policies: { balance: { policy: "spread" } } }, /policies\.balance\.policy: unknown policy "spread"/],
      [{ ...minimal, planner: { forecast: { windowSamples: 0 } } }, /planner\.forecast\.windowSamples: /],
      [{ ...minimal, planner: { capacity: { cpuHeadroom: 2 } } }, /planner\.capacity\.cpuHeadroom: /],
      [{ ...minimal, planner: { limits: { perSource: 1 } } }, /planner\.limits: unknown key/],
    ];
    for (const [input, re] of cases) expect(() => parseConfig(input)).toThrow(re);
  });

  it("names the key an unknown one is likely a typo of, in policy arguments too", () => {
    const cases: [unknown, string][] = [
      [{ ...minimal, migraton: {} }, 'migraton: unknown key (did you mean "migration"?)'],
      [{ ...minimal, limits: { persource: 1 } }, 'limits.persource: unknown key (did you mean "perSource"?)'],
      [
        { ...minimal, policies: { consolidate: { args: { band: { lwo: 0.2 } } } } },
        'policies.consolidate.args.band.lwo: unknown key (did you mean "low"?)',
      ],
      [{ ...minimal, hosts: { kvm1: { power: { wkae: "wol" } } } }, 'hosts.kvm1.power.wkae: unknown key (did you mean "wake"?)'],
      [{ ...minimal, quantum: 1 }, "quantum: unknown key"],
    ];
    for (const [input, message] of cases) expect(() => parseConfig(input), message).toThrow(message);
    expect(() => parseConfig({ ...minimal, quantum: 1 })).not.toThrow(/did you mean/);
  });

  it("keeps policy arguments and planner settings with their defaults", () => {
    const c = parseConfig({
      ...minimal,
      policies: { consolidate: { args: { band: { low: 0.2, high: 0.35 } } }, balance: { policy: "drain" } },
      planner: { forecast: { windowSamples: 12 } },
    });
    expect(c.policies.consolidate.args).toMatchObject({ band: { low: 0.2, high: 0.35 }, powerOff: true });
    expect(c.policies.balance.args).toEqual({ allowParking: true, parkingCandidates: 16 });
    expect(c.policies.drain.args).toEqual({ allowParking: true, parkingCandidates: 16 });
    expect(c.planner.forecast).toMatchObject({ windowSamples: 12, statistic: "max" });
    expect(c.planner.migration.setupOverheadMs).toBe(2500);
  });

  it("loads YAML and reports a bad file clearly", async () => {
    await using dir = await tempDir();
    const good = join(dir.path, "good.yaml");
    await writeFile(good, "cluster: lab\nnats:\n  servers: [nats://127.0.0.1:4222]\nstateDir: /tmp/x\nlimits:\n  perCluster: 3\n");
    expect((await loadConfig(good)).limits.perCluster).toBe(3);
    const bad = join(dir.path, "bad.yaml");
    await writeFile(bad, "cluster: [unclosed\n");
    await expect(loadConfig(bad)).rejects.toThrow(/not valid YAML/);
    await expect(loadConfig(join(dir.path, "missing.yaml"))).rejects.toBeInstanceOf(ConfigError);
  });

  it("records configuration changes between starts, secrets redacted", async () => {
    await using dir = await tempDir();
    const store = Store.open({ path: join(dir.path, "s.sqlite") });
    try {
      const first = parseConfig({ ...minimal, nats: { servers: ["nats://127.0.0.1:4222"], user: "u", pass: "hunter2" } });
      expect(recordConfigChanges(store, first, 1000).length).toBeGreaterThan(5);
      expect(recordConfigChanges(store, first, 2000)).toEqual([]);
      const second = parseConfig({
        ...minimal,
        nats: { servers: ["nats://127.0.0.1:4222"], user: "u", pass: "hunter2" },
        limits: { perCluster: 3 },
      });
      expect(recordConfigChanges(store, second, 3000)).toEqual(["limits"]);
      const [row] = store.config.list({ key: "limits", limit: 1 });
      expect(row).toMatchObject({ atMs: 3000, oldValue: { perCluster: 8 }, newValue: { perCluster: 3 } });
      expect(JSON.stringify(store.config.list({ key: "nats" }))).not.toContain("hunter2");
    } finally {
      store.close();
    }
  });
});
