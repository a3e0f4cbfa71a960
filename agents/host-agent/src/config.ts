import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { NatsConnectionConfig } from "@drover/bus";
import { ClusterName, HostId, WakeMethod, issuesOf } from "@drover/protocol";
import { ConfigError } from "./errors.js";

/** Filesystem types libvirt and Drover treat as shared between hosts. */
export const DEFAULT_SHARED_FS_TYPES = [
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "ceph",
  "glusterfs",
  "fuse.glusterfs",
  "fuse.cephfs",
  "gpfs",
  "ocfs2",
  "gfs2",
  "beegfs",
  "lustre",
] as const;

const ms = z.number().int().positive();
/** The agent's default metrics port (the scheduler's metrics are on its API port). */
export const DEFAULT_METRICS_PORT = 9470;
const absPath = z.string().startsWith("/", "must be an absolute path");

const Schema = z
  .object({
    cluster: ClusterName,
    host: HostId,
    /** Server URLs and identity (nkeySeedFile, credsFile, user + passFile, tokenFile) and TLS: see @drover/bus. */
    nats: NatsConnectionConfig,
    libvirt: z
      .object({
        /** The local libvirtd (in the lab: qemu+tcp://127.0.<net>.<i>/system). */
        uri: z.string().min(1).default("qemu:///system"),
        reconnectMinMs: ms.default(500),
        reconnectMaxMs: ms.default(10_000),
        /** A cheap call slower than this counts as a failure (libvirtd hung). */
        callTimeoutMs: ms.default(5000),
      })
      .strict()
      .default({ uri: "qemu:///system", reconnectMinMs: 500, reconnectMaxMs: 10_000, callTimeoutMs: 5000 }),
    /** Where peers reach this host's libvirtd for p2p migration; default libvirt.uri. */
    migrationUri: z.string().min(1).optional(),
    reportIntervalMs: ms.default(5000),
    dirtyRate: z
      .object({
        enabled: z.boolean().default(true),
        everyMs: ms.default(60_000),
        measureSeconds: z.number().int().min(1).max(60).default(1),
      })
      .strict()
      .default({ enabled: true, everyMs: 60_000, measureSeconds: 1 }),
    storage: z
      .object({
        sharedFsTypes: z.array(z.string().min(1)).default([...DEFAULT_SHARED_FS_TYPES]),
        /** Paths declared shared whatever their filesystem (the lab's common directory is on ext4). */
        sharedPaths: z.array(absPath).default([]),
        mountsFile: absPath.default("/proc/self/mounts"),
      })
      .strict()
      .default({ sharedFsTypes: [...DEFAULT_SHARED_FS_TYPES], sharedPaths: [], mountsFile: "/proc/self/mounts" }),
    /** Bridges this host offers; default: read from /sys/class/net/<dev>/bridge. */
    bridges: z.array(z.string().min(1)).optional(),
    power: z
      .object({
        /** argv run by power-off (e.g. ["poweroff"]); absent = power-off refused. */
        offCommand: z.array(z.string().min(1)).min(1).optional(),
        /** Working directory of offCommand. */
        offCwd: absPath.optional(),
        /** How peers wake this host (reported, never used by this agent itself). */
        wake: z.array(WakeMethod).default([]),
      })
      .strict()
      .default({ wake: [] }),
    /**
     * The lab's lab-host.json of this host: fills bridges, power.offCommand, power.wake, a shared
     * path and migration.tls + tlsCertDir from it when those keys are not set (lab hosts share one
     * network namespace, so their bridges exist only as recorded names).
     */
    labHostFile: absPath.optional(),
    /**
     * Where the host's CPU figure comes from: `system` (/proc/stat, a real host) or `guests` (the sum
     * of this host's guests). Lab hosts share one machine, so /proc/stat would give every lab host
     * the whole machine's load; a lab host file sets `guests` unless the key is given.
     */
    hostCpuSource: z.enum(["system", "guests"]).optional(),
    /** Refuse wake packets and destination probes to anything but lab addresses (@drover/wol isLabAddress). */
    labSafeNetwork: z.boolean().default(true),
    migration: z
      .object({
        /** Port range where peers' QEMU listens for incoming migrations (libvirt's default). */
        peerPortMin: z.number().int().min(1).max(65535).default(49152),
        peerPortMax: z.number().int().min(1).max(65535).default(49215),
        portProbeTimeoutMs: ms.default(2000),
        maxConcurrent: z.number().int().positive().default(2),
        /**
         * Migrate over QEMU's TLS (VIR_MIGRATE_TLS); both hosts need certificates (README, "Migration
         * over TLS"). Off unless set; a lab host file turns it on.
         */
        tls: z.boolean().optional(),
        /** This host's qemu.conf `migrate_tls_x509_cert_dir`, checked by preflight and reported (default /etc/pki/qemu). */
        tlsCertDir: absPath.optional(),
      })
      .strict()
      .refine((m) => m.peerPortMin <= m.peerPortMax, { message: "must be <= peerPortMax", path: ["peerPortMin"] })
      .default({ peerPortMin: 49152, peerPortMax: 49215, portProbeTimeoutMs: 2000, maxConcurrent: 2 }),
    /**
     * Where the agent keeps what must survive its own restart (the journal of migrations in
     * flight). Default: the directory of `labHostFile` when set, else /var/lib/drover-agent when
     * loaded from a file (`loadConfig`); an agent embedded without one journals nothing.
     */
    stateDir: absPath.optional(),
    /**
     * The agent's Prometheus endpoint, GET /metrics. `host` defaults to 127.0.0.1 (with a lab host
     * file: that lab host's own address, so several lab agents on one machine do not collide).
     */
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        host: z.union([z.ipv4(), z.ipv6()], { error: "must be an IP address to listen on" }).optional(),
        port: z.number().int().min(0).max(65535).default(DEFAULT_METRICS_PORT),
      })
      .strict()
      .default({ enabled: true, port: DEFAULT_METRICS_PORT }),
    /** Commands remembered by id for idempotency (oldest forgotten first). */
    commandTableSize: z.number().int().min(16).default(1000),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  })
  .strict();

export type AgentConfig = z.output<typeof Schema> & { migrationUri: string };
export type AgentConfigInput = z.input<typeof Schema>;

/**
 * Environment variables that override file keys (the environment wins). Values of list keys are
 * comma-separated; booleans are true/false; numbers are decimal.
 */
export const ENV_KEYS = {
  DROVER_CLUSTER: "cluster",
  DROVER_HOST: "host",
  DROVER_NATS_SERVERS: "nats.servers",
  DROVER_NATS_USER: "nats.user",
  DROVER_NATS_PASS: "nats.pass",
  DROVER_NATS_TOKEN: "nats.token",
  DROVER_NATS_PASS_FILE: "nats.passFile",
  DROVER_NATS_TOKEN_FILE: "nats.tokenFile",
  DROVER_NATS_CREDS: "nats.credsFile",
  DROVER_NATS_SEED_FILE: "nats.nkeySeedFile",
  DROVER_NATS_TLS_CA: "nats.tls.ca",
  DROVER_NATS_TLS_CERT: "nats.tls.cert",
  DROVER_NATS_TLS_KEY: "nats.tls.key",
  DROVER_LIBVIRT_URI: "libvirt.uri",
  DROVER_MIGRATION_URI: "migrationUri",
  DROVER_MIGRATION_TLS: "migration.tls",
  DROVER_MIGRATION_TLS_CERT_DIR: "migration.tlsCertDir",
  DROVER_REPORT_INTERVAL_MS: "reportIntervalMs",
  DROVER_SHARED_PATHS: "storage.sharedPaths",
  DROVER_BRIDGES: "bridges",
  DROVER_LAB_SAFE_NETWORK: "labSafeNetwork",
  DROVER_HOST_CPU_SOURCE: "hostCpuSource",
  DROVER_LOG_LEVEL: "logLevel",
  DROVER_LAB_HOST_FILE: "labHostFile",
  DROVER_STATE_DIR: "stateDir",
  DROVER_METRICS_ENABLED: "metrics.enabled",
  DROVER_METRICS_HOST: "metrics.host",
  DROVER_METRICS_PORT: "metrics.port",
} as const;

const LIST_KEYS = new Set(["nats.servers", "storage.sharedPaths", "bridges"]);
const NUMBER_KEYS = new Set(["reportIntervalMs", "metrics.port"]);
const BOOL_KEYS = new Set(["labSafeNetwork", "migration.tls", "metrics.enabled"]);

function envValue(key: string, raw: string, envName: string): unknown {
  if (LIST_KEYS.has(key))
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  if (NUMBER_KEYS.has(key)) {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) throw new ConfigError(`${envName} (${key}): not a number: ${JSON.stringify(raw)}`, [key]);
    return n;
  }
  if (BOOL_KEYS.has(key)) {
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
    throw new ConfigError(`${envName} (${key}): expected true or false, got ${JSON.stringify(raw)}`, [key]);
  }
  return raw;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== "object" || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts.at(-1) as string] = value;
}

/** Validates raw config (file contents merged with env); throws ConfigError naming every bad key. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, source = "config"): AgentConfig {
  const base: Record<string, unknown> =
    raw === null || raw === undefined
      ? {}
      : typeof raw === "object" && !Array.isArray(raw)
        ? structuredClone(raw as Record<string, unknown>)
        : { __notAnObject: raw };
  if ("__notAnObject" in base) throw new ConfigError(`${source}: the top level must be a mapping of keys`, ["(root)"]);
  for (const [envName, key] of Object.entries(ENV_KEYS)) {
    const v = env[envName];
    if (v !== undefined) setPath(base, key, envValue(key, v, envName));
  }
  const r = Schema.safeParse(base);
  if (!r.success) {
    // zod reports unknown keys on the parent object; name each key itself instead.
    const issues = r.error.issues.flatMap((i) =>
      i.code === "unrecognized_keys"
        ? i.keys.map((k) => ({ field: [...i.path.map(String), k].join("."), message: "unknown key" }))
        : issuesOf({ issues: [i] } as z.ZodError),
    );
    throw new ConfigError(
      `invalid ${source}: ${issues.map((i) => `${i.field}: ${i.message}`).join("; ")}`,
      issues.map((i) => i.field),
      { cause: r.error },
    );
  }
  return { ...r.data, migrationUri: r.data.migrationUri ?? r.data.libvirt.uri };
}

/** Where the agent serves its metrics, or null when they are off. */
export function metricsListen(c: AgentConfig): { host: string; port: number } | null {
  return c.metrics.enabled ? { host: c.metrics.host ?? "127.0.0.1", port: c.metrics.port } : null;
}

/** libvirt's default `migrate_tls_x509_cert_dir` (its `default_tls_x509_cert_dir`). */
export const DEFAULT_MIGRATION_TLS_DIR = "/etc/pki/qemu";

/** The cert dir this agent migrates with, or null when migration TLS is off. */
export function migrationTlsDir(c: AgentConfig): string | null {
  return c.migration.tls === true ? (c.migration.tlsCertDir ?? DEFAULT_MIGRATION_TLS_DIR) : null;
}

/** Reads a YAML file, applies the environment, validates. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`, ["(file)"], { cause: e });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message}`, ["(file)"], { cause: e });
  }
  const c = await applyLabHostFile(resolveConfig(raw, env, `config ${file}`));
  return { ...c, stateDir: c.stateDir ?? DEFAULT_STATE_DIR };
}

export const DEFAULT_STATE_DIR = "/var/lib/drover-agent";

const LabHostFile = z.object({
  bridges: z.array(z.string()).default([]),
  sharedDir: z.string().optional(),
  wake: z.object({ address: z.string(), port: z.number().int(), mac: z.string() }).optional(),
  powerOffCommand: z.object({ cmd: z.string(), args: z.array(z.string()), cwd: z.string().optional() }).optional(),
  migrationTls: z.object({ certDir: z.string() }).optional(),
  address: z.string().optional(),
});

/** Completes a config from the lab's lab-host.json (see `labHostFile`); keys set explicitly win. */
export async function applyLabHostFile(c: AgentConfig): Promise<AgentConfig> {
  if (!c.labHostFile) return c;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(c.labHostFile, "utf8"));
  } catch (e) {
    throw new ConfigError(`labHostFile ${c.labHostFile}: ${(e as Error).message}`, ["labHostFile"], { cause: e });
  }
  const r = LabHostFile.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      `labHostFile ${c.labHostFile}: ${issuesOf(r.error)
        .map((i) => `${i.field}: ${i.message}`)
        .join("; ")}`,
      ["labHostFile"],
    );
  }
  const h = r.data;
  const out: AgentConfig = {
    ...c,
    storage: { ...c.storage },
    power: { ...c.power },
    migration: { ...c.migration },
    metrics: { ...c.metrics },
  };
  out.bridges ??= h.bridges;
  out.stateDir ??= dirname(c.labHostFile);
  out.hostCpuSource ??= "guests";
  out.metrics.host ??= h.address;
  if (h.sharedDir && !out.storage.sharedPaths.includes(h.sharedDir)) out.storage.sharedPaths = [...out.storage.sharedPaths, h.sharedDir];
  if (!out.power.offCommand && h.powerOffCommand) {
    out.power.offCommand = [h.powerOffCommand.cmd, ...h.powerOffCommand.args];
    if (h.powerOffCommand.cwd) out.power.offCwd = h.powerOffCommand.cwd;
  }
  // The lab's qemu.conf names this dir: its agents migrate over TLS (a host without certificates fails preflight).
  if (h.migrationTls) {
    out.migration.tls ??= true;
    out.migration.tlsCertDir ??= h.migrationTls.certDir;
  }
  if (out.power.wake.length === 0 && h.wake) {
    const w = WakeMethod.safeParse({ method: "wol", mac: h.wake.mac, address: h.wake.address, port: h.wake.port });
    if (w.success) out.power.wake = [w.data];
  }
  return out;
}
