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

export const AgentConfigSchema = z
  .object({
    cluster: ClusterName.describe("The cluster's name, the same as the scheduler's `cluster`."),
    host: HostId.describe("This host's id in the cluster (1-128 of A-Z a-z 0-9 _ -); the scheduler's `hosts` keys name it."),
    peerClusters: z
      .array(ClusterName)
      .default([])
      .describe(
        "Clusters this agent may move guests into (a move across clusters); it reads their hosts' reports to check a " +
          "destination as it does its own cluster's. A command naming any other cluster is refused.",
      ),
    nats: NatsConnectionConfig.describe(
      "How to reach NATS and who to be there: server URLs, identity (a file, never the secret itself) and TLS.",
    ),
    libvirt: z
      .object({
        uri: z.string().min(1).default("qemu:///system").describe("The local libvirtd (in the lab: qemu+tcp://127.0.<net>.<i>/system)."),
        reconnectMinMs: ms.default(500).describe("First wait before reconnecting to a lost libvirtd (doubles up to reconnectMaxMs)."),
        reconnectMaxMs: ms.default(10_000).describe("Longest wait between reconnection attempts."),
        callTimeoutMs: ms.default(5000).describe("A cheap libvirt call slower than this counts as a failure (libvirtd hung)."),
      })
      .strict()
      .default({ uri: "qemu:///system", reconnectMinMs: 500, reconnectMaxMs: 10_000, callTimeoutMs: 5000 })
      .describe("The local libvirtd."),
    migrationUri: z
      .string()
      .min(1)
      .optional()
      .describe("Where peers reach this host's libvirtd for peer-to-peer migration (default: libvirt.uri)."),
    reportIntervalMs: ms.default(5000).describe("A host report is published this often (the scheduler's reports.intervalMs)."),
    dirtyRate: z
      .object({
        enabled: z.boolean().default(true).describe("Measure each guest's memory dirty rate (it predicts migration time)."),
        everyMs: ms.default(60_000).describe("Measure each guest this often."),
        measureSeconds: z.number().int().min(1).max(60).default(1).describe("Length of one measurement, in seconds."),
      })
      .strict()
      .default({ enabled: true, everyMs: 60_000, measureSeconds: 1 })
      .describe("Dirty-rate measurement of the guests (libvirt's domdirtyrate-calc)."),
    storage: z
      .object({
        sharedFsTypes: z
          .array(z.string().min(1))
          .default([...DEFAULT_SHARED_FS_TYPES])
          .describe("Filesystem types treated as shared between hosts (a disk on them is not copied by a migration)."),
        sharedPaths: z
          .array(absPath)
          .default([])
          .describe("Paths declared shared whatever their filesystem (the lab's common directory is on ext4)."),
        mountsFile: absPath.default("/proc/self/mounts").describe("Where mounts are read from."),
      })
      .strict()
      .default({ sharedFsTypes: [...DEFAULT_SHARED_FS_TYPES], sharedPaths: [], mountsFile: "/proc/self/mounts" })
      .describe("Which guest disks are on shared storage."),
    bridges: z
      .array(z.string().min(1))
      .optional()
      .describe("Bridges this host offers to guests (default: read from /sys/class/net/<dev>/bridge)."),
    power: z
      .object({
        offCommand: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('argv run by a power-off command (e.g. ["systemctl", "poweroff"]); absent = power-off refused.'),
        offCwd: absPath.optional().describe("Working directory of offCommand."),
        wake: z
          .array(WakeMethod)
          .default([])
          .describe(
            "How peers wake this host (reported, never used by this agent itself), e.g. " +
              '[{method: wol, mac: "02:00:00:00:00:01", address: 192.0.2.10, port: 9}].',
          ),
      })
      .strict()
      .default({ wake: [] })
      .describe("Powering this host off and how it is woken."),
    labHostFile: absPath
      .optional()
      .describe(
        "Lab only: the lab's lab-host.json of this host; fills bridges, power.offCommand, power.wake, a shared path and " +
          "migration.tls + tlsCertDir from it when those keys are not set.",
      ),
    hostCpuSource: z
      .enum(["system", "guests"])
      .optional()
      .describe(
        "Where the host's CPU figure comes from: system (/proc/stat, a real host) or guests (the sum of its guests; lab hosts " +
          "share one machine). Default: system, or guests with a lab host file.",
      ),
    labSafeNetwork: z
      .boolean()
      .default(true)
      .describe("Refuse wake packets and destination probes to anything but lab addresses; set false on a real cluster."),
    migration: z
      .object({
        peerPortMin: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .default(49152)
          .describe(
            "First port of this host's libvirt migration range, where its QEMU listens for incoming migrations; the agent keeps a listener on the last port for peers' preflight probe.",
          ),
        peerPortMax: z.number().int().min(1).max(65535).default(49215).describe("Last port of that range."),
        portProbeTimeoutMs: ms.default(2000).describe("Preflight's probe of a destination's migration port gives up after this time."),
        maxConcurrent: z.number().int().positive().default(2).describe("Migrations this agent runs at once at most."),
        tls: z
          .boolean()
          .optional()
          .describe(
            "Migrate over QEMU's TLS (VIR_MIGRATE_TLS); both hosts need certificates (README, Migration over TLS). Off " +
              "unless set; a lab host file turns it on.",
          ),
        tlsCertDir: absPath
          .optional()
          .describe("This host's qemu.conf migrate_tls_x509_cert_dir, checked by preflight and reported (default /etc/pki/qemu)."),
      })
      .strict()
      .refine((m) => m.peerPortMin <= m.peerPortMax, { message: "must be <= peerPortMax", path: ["peerPortMin"] })
      .default({ peerPortMin: 49152, peerPortMax: 49215, portProbeTimeoutMs: 2000, maxConcurrent: 2 })
      .describe("Migrations this host takes part in."),
    stateDir: absPath
      .optional()
      .describe(
        "Where the agent keeps what must survive its own restart (the journal of migrations in flight, the leader's " +
          "lease revision, disk images failed copies left on other hosts). Default: the " +
          "directory of labHostFile when set, else /var/lib/drover-agent.",
      ),
    metrics: z
      .object({
        enabled: z.boolean().default(true).describe("Serve Prometheus metrics at GET /metrics."),
        host: z
          .union([z.ipv4(), z.ipv6()], { error: "must be an IP address to listen on" })
          .optional()
          .describe("Address to listen on (default 127.0.0.1; with a lab host file, that lab host's own address)."),
        port: z.number().int().min(0).max(65535).default(DEFAULT_METRICS_PORT).describe("Port of the metrics endpoint."),
      })
      .strict()
      .default({ enabled: true, port: DEFAULT_METRICS_PORT })
      .describe("The agent's Prometheus endpoint."),
    commandTableSize: z
      .number()
      .int()
      .min(16)
      .default(1000)
      .describe("Commands remembered by id so a repeated one is not run twice (oldest forgotten first)."),
    logLevel: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
      .default("info")
      .describe("Log level (JSON lines on stderr, in the journal under systemd)."),
  })
  .strict()
  .superRefine((c, ctx) => {
    c.peerClusters.forEach((p, i) => {
      if (p === c.cluster)
        ctx.addIssue({ code: "custom", path: ["peerClusters", i], message: `${p} is this agent's own cluster (cluster), not a peer` });
      else if (c.peerClusters.indexOf(p) !== i) ctx.addIssue({ code: "custom", path: ["peerClusters", i], message: `${p} is named twice` });
    });
  });

export type AgentConfig = z.output<typeof AgentConfigSchema> & { migrationUri: string };
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/**
 * Environment variables that override file keys (the environment wins). Values of list keys are
 * comma-separated; booleans are true/false; numbers are decimal.
 */
export const ENV_KEYS = {
  DROVER_CLUSTER: "cluster",
  DROVER_HOST: "host",
  DROVER_PEER_CLUSTERS: "peerClusters",
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
  DROVER_NATS_INSECURE: "nats.insecure",
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

const LIST_KEYS = new Set(["nats.servers", "storage.sharedPaths", "bridges", "peerClusters"]);
const NUMBER_KEYS = new Set(["reportIntervalMs", "metrics.port"]);
const BOOL_KEYS = new Set(["labSafeNetwork", "nats.insecure", "migration.tls", "metrics.enabled"]);

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
  const r = AgentConfigSchema.safeParse(base);
  if (!r.success) {
    const issues = issuesOf(r.error, AgentConfigSchema);
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
      `labHostFile ${c.labHostFile}: ${issuesOf(r.error, LabHostFile)
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
