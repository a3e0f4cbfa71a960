import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, resolveConfig } from "../src/index.js";

const minimal = { cluster: "lab", host: "h1", nats: { servers: ["nats://127.0.0.1:4222"] } };

describe("config", () => {
  it("fills every default from a minimal config", () => {
    const c = resolveConfig(minimal);
    expect(c.reportIntervalMs).toBe(5000);
    expect(c.libvirt.uri).toBe("qemu:///system");
    expect(c.migrationUri).toBe("qemu:///system");
    expect(c.labSafeNetwork).toBe(true);
    expect(c.storage.sharedFsTypes).toContain("nfs4");
    expect(c.power.offCommand).toBeUndefined();
    expect(c.dirtyRate).toEqual({ enabled: true, everyMs: 60_000, measureSeconds: 1 });
  });

  it("names every bad key, including unknown and nested ones", () => {
    const bad = { ...minimal, host: "h 1", reportIntervalMs: 0, libvirt: { uri: "", retry: 3 }, extra: true };
    let err: unknown;
    try {
      resolveConfig(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.keys).toEqual(expect.arrayContaining(["host", "reportIntervalMs", "libvirt.uri", "libvirt.retry", "extra"]));
    expect(ce.message).toMatch(/libvirt\.retry: unknown key/);
  });

  it("names the key an unknown one is likely a typo of", () => {
    expect(() => resolveConfig({ ...minimal, libvirt: { callTimeotMs: 100 }, reportIntervalMS: 1000, colour: "red" })).toThrow(
      'invalid config: libvirt.callTimeotMs: unknown key (did you mean "callTimeoutMs"?); ' +
        'reportIntervalMS: unknown key (did you mean "reportIntervalMs"?); colour: unknown key',
    );
  });

  it("lets the environment override the file, with typed values", () => {
    const c = resolveConfig(minimal, {
      DROVER_HOST: "h7",
      DROVER_NATS_SERVERS: "nats://127.0.0.1:1, nats://127.0.0.1:2",
      DROVER_REPORT_INTERVAL_MS: "1000",
      DROVER_LAB_SAFE_NETWORK: "false",
      DROVER_LIBVIRT_URI: "qemu+tcp://127.0.21.1/system",
    });
    expect(c.host).toBe("h7");
    expect(c.nats.servers).toEqual(["nats://127.0.0.1:1", "nats://127.0.0.1:2"]);
    expect(c.reportIntervalMs).toBe(1000);
    expect(c.labSafeNetwork).toBe(false);
    expect(c.migrationUri).toBe("qemu+tcp://127.0.21.1/system");
  });

  it("refuses a NATS server off this machine without TLS unless told, from the file or the environment", () => {
    const remote = { DROVER_NATS_SERVERS: "nats://nats.example:4222", DROVER_NATS_SEED_FILE: "/etc/drover/h1.seed" };
    expect(() => resolveConfig(minimal, remote)).toThrow(
      /nats\.servers\.0: nats:\/\/nats\.example:4222 is not on this machine and nats\.tls is not set/,
    );
    expect(resolveConfig(minimal, { ...remote, DROVER_NATS_INSECURE: "true" }).nats.insecure).toBe(true);
    expect(resolveConfig(minimal, { ...remote, DROVER_NATS_TLS_CA: "/etc/drover/ca.pem" }).nats.servers).toEqual([
      "nats://nats.example:4222",
    ]);
  });

  it("refuses a malformed environment value naming the variable and key", () => {
    expect(() => resolveConfig(minimal, { DROVER_REPORT_INTERVAL_MS: "soon" })).toThrow(
      /DROVER_REPORT_INTERVAL_MS \(reportIntervalMs\): not a number/,
    );
    expect(() => resolveConfig(minimal, { DROVER_LAB_SAFE_NETWORK: "yes" })).toThrow(/labSafeNetwork/);
  });

  it("takes peerClusters (clusters guests may move into) from the file or DROVER_PEER_CLUSTERS, none by default", () => {
    expect(resolveConfig(minimal).peerClusters).toEqual([]);
    expect(resolveConfig({ ...minimal, peerClusters: ["dc2", "dc3"] }).peerClusters).toEqual(["dc2", "dc3"]);
    expect(resolveConfig({ ...minimal, peerClusters: ["dc2"] }, { DROVER_PEER_CLUSTERS: "dc3, dc4" }).peerClusters).toEqual(["dc3", "dc4"]);
  });

  it("refuses a peerClusters entry that is no cluster name, this agent's own cluster, or named twice, naming the key", () => {
    const refusal = (peerClusters: unknown, env: NodeJS.ProcessEnv = {}) => {
      try {
        resolveConfig({ ...minimal, peerClusters }, env);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("accepted");
    };
    const bad = refusal(["dc 2"]);
    expect(bad).toBeInstanceOf(ConfigError);
    expect(bad.keys).toEqual(["peerClusters.0"]);
    expect(bad.message).toMatch(/peerClusters\.0: must be 1-128 of/);
    const own = refusal(["dc2", "lab"]);
    expect(own.keys).toEqual(["peerClusters.1"]);
    expect(own.message).toMatch(/peerClusters\.1: lab is this agent's own cluster/);
    const twice = refusal(["dc2", "dc3", "dc2"]);
    expect(twice.keys).toEqual(["peerClusters.2"]);
    expect(twice.message).toMatch(/peerClusters\.2: dc2 is named twice/);
    expect(refusal("dc2").keys).toEqual(["peerClusters"]);
    // The environment's cluster is the one compared with.
    expect(refusal(["dc2"], { DROVER_CLUSTER: "dc2" }).message).toMatch(/peerClusters\.0: dc2 is this agent's own cluster/);
  });

  it("loads YAML and reports unreadable or invalid files clearly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ha-config-"));
    const good = join(dir, "good.yaml");
    await writeFile(
      good,
      "cluster: lab\nhost: h2\nnats:\n  servers: [nats://127.0.0.1:4222]\npower:\n  offCommand: [/bin/true]\n  wake:\n    - {method: wol, mac: '02:00:00:00:00:02', address: 127.0.21.2}\n",
    );
    const c = await loadConfig(good, {});
    expect(c.host).toBe("h2");
    expect(c.power.wake[0]).toMatchObject({ method: "wol", port: 9 });
    const broken = join(dir, "broken.yaml");
    await writeFile(broken, "cluster: [unclosed\n");
    await expect(loadConfig(broken, {})).rejects.toThrow(/not valid YAML/);
    await expect(loadConfig(join(dir, "missing.yaml"), {})).rejects.toThrow(/cannot read config file/);
    const wrongType = join(dir, "wrong.yaml");
    await writeFile(wrongType, "cluster: lab\nhost: h2\nnats: {servers: [x]}\npower: {offCommand: poweroff}\n");
    await expect(loadConfig(wrongType, {})).rejects.toThrow(/power\.offCommand/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe("lab host file", () => {
  it("makes a lab host report its own guests' CPU, not the shared machine's, unless told otherwise", async () => {
    const dir = await mkdtemp(join(tmpdir(), "agent-labhost-"));
    try {
      const lab = join(dir, "lab-host.json");
      await writeFile(lab, JSON.stringify({ bridges: ["br0"], sharedDir: "/srv/lab" }));
      const file = join(dir, "agent.yaml");
      await writeFile(file, `cluster: lab\nhost: h1\nnats:\n  servers: ["nats://127.0.0.1:4222"]\nlabHostFile: ${lab}\n`);
      const c = await loadConfig(file, {});
      expect(c.hostCpuSource).toBe("guests");
      expect(c.bridges).toEqual(["br0"]);
      expect((await loadConfig(file, { DROVER_HOST_CPU_SOURCE: "system" })).hostCpuSource).toBe("system");
      expect(resolveConfig(minimal).hostCpuSource).toBeUndefined();
      expect(() => resolveConfig(minimal, { DROVER_HOST_CPU_SOURCE: "cpu" })).toThrow(/hostCpuSource/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("makes a lab agent migrate over TLS with the host's cert dir, unless the config says otherwise", async () => {
    const dir = await mkdtemp(join(tmpdir(), "agent-labhost-"));
    try {
      const lab = join(dir, "lab-host.json");
      await writeFile(lab, JSON.stringify({ migrationTls: { certDir: "/lab/hosts/h1/pki/qemu", certs: false } }));
      const file = join(dir, "agent.yaml");
      await writeFile(file, `cluster: lab\nhost: h1\nnats:\n  servers: ["nats://127.0.0.1:4222"]\nlabHostFile: ${lab}\n`);
      expect((await loadConfig(file, {})).migration).toMatchObject({ tls: true, tlsCertDir: "/lab/hosts/h1/pki/qemu" });
      expect((await loadConfig(file, { DROVER_MIGRATION_TLS: "false" })).migration.tls).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
