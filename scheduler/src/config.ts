// The scheduler's configuration: read once from YAML, validated, fully defaulted. Every error
// names the key (e.g. `limits.perSource: must be >= 1`).
import { readFile } from "node:fs/promises";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { DEFAULT_MAX_PAYLOAD, natsConnectionFields } from "@drover/bus";
import { clusterConfigSchema, getPolicy, policyNames } from "@drover/policy";
import { ClusterName, DroverError, EscalationStep, HostId, PolicyMode } from "@drover/protocol";

const ms = z.number().int().nonnegative();
const posMs = z.number().int().positive();
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM (24 h)");
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, "must be a MAC like 02:00:00:00:00:01");

/** Days a window opens on: "*" or a list of mon..sun (ranges like mon-fri allowed). */
const days = z
  .string()
  .regex(
    /^\*$|^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?(,(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?)*$/,
    "must be * or days like mon-fri,sun",
  );

export const WindowConfig = z
  .object({
    /** Opens at this time of day... */
    start: hhmm,
    /** ...and closes at this one (an end before the start crosses midnight). */
    end: hhmm,
    /** Days the window opens on (the day of `start`). */
    days: days.default("*"),
    timezone: z.enum(["utc", "local"]).default("utc"),
    /** Capacity is restored (hosts woken, load spread) this long before the window ends. */
    restoreBeforeEndMs: ms.default(30 * 60_000),
  })
  .strict();
export type WindowConfig = z.output<typeof WindowConfig>;

const policyBase = {
  mode: PolicyMode.default("recommend"),
  /** Registered policy name in @drover/policy (default: the kind's own policy). */
  policy: z.string().min(1).optional(),
  /** Arguments of that policy: checked against its args schema here and stored with its defaults. */
  args: z.record(z.string(), z.unknown()).default({}),
};

/**
 * Checks `args` against the schema of the policy the entry names (known only once `policy` is
 * read, hence a transform rather than a nested schema) and keeps the defaulted arguments, so a bad
 * value is refused at load with its key named (`policies.consolidate.args.band.low: ...`).
 */
function withPolicyArgs<T extends { policy?: string | undefined; args: Record<string, unknown> }>(kind: string) {
  return (entry: T, ctx: z.RefinementCtx<T>): T => {
    const name = entry.policy ?? kind;
    if (!policyNames().includes(name)) {
      ctx.addIssue({ code: "custom", path: ["policy"], message: `unknown policy "${name}" (known: ${policyNames().join(", ")})` });
      return entry;
    }
    const r = getPolicy(name).args.safeParse(entry.args);
    if (r.success) return { ...entry, args: r.data as Record<string, unknown> };
    for (const i of r.error.issues) ctx.addIssue({ code: "custom", path: ["args", ...i.path], message: i.message });
    return entry;
  };
}

/**
 * The cost model and forecast settings the policy gets (its cluster config); the scheduler fills
 * the rest of that config (sample interval, limits, cool-downs, spare) from its own keys.
 */
const PlannerConfig = clusterConfigSchema.pick({ capacity: true, forecast: true, migration: true }).strict();

const PowerConfig = z
  .object({
    /** How this host is woken; "none" = never powered off by Drover. */
    wake: z.enum(["wol", "peer-wol", "ipmi", "none"]).default("none"),
    mac: mac.optional(),
    /** Unicast address of the host (WoL target) or its BMC (IPMI). */
    address: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(9),
    ipmi: z
      .object({
        user: z.string().min(1),
        /** Environment variable holding the BMC password; given to ipmitool as IPMI_PASSWORD (`-E`). */
        passwordEnv: z.string().min(1).optional(),
        /** A file holding the BMC password, read by ipmitool itself (`-f`). */
        passwordFile: z.string().min(1).optional(),
        /** Only to name the mistake: a secret does not belong in the config file. */
        password: z.unknown().optional(),
        ipmitool: z.string().min(1).default("ipmitool"),
      })
      .strict()
      .superRefine((i, ctx) => {
        if (i.password !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["password"],
            message: "a password does not belong in the config file: use passwordEnv (an environment variable) or passwordFile",
          });
        if ((i.passwordEnv === undefined) === (i.passwordFile === undefined))
          ctx.addIssue({ code: "custom", path: ["passwordEnv"], message: "exactly one of passwordEnv and passwordFile is required" });
      })
      .optional(),
    /** A wake counts as done only when the agent reports healthy within this time. */
    wakeTimeoutMs: posMs.default(300_000),
    /** Time to wait for the host to stop reporting after a power-off command. */
    powerOffTimeoutMs: posMs.default(120_000),
    /** Drover may power this host off. */
    allowPowerOff: z.boolean().default(true),
    /**
     * Measured watts idle and at full CPU (e.g. SPECpower): consolidation then empties the least
     * efficient hosts first and wakes the most efficient ones first.
     */
    idleW: z.number().positive().optional(),
    maxW: z.number().positive().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.idleW === undefined) !== (p.maxW === undefined)) {
      ctx.addIssue({ code: "custom", path: p.idleW === undefined ? ["idleW"] : ["maxW"], message: "idleW and maxW go together" });
    }
    if (p.idleW !== undefined && p.maxW !== undefined && p.maxW < p.idleW)
      ctx.addIssue({ code: "custom", path: ["maxW"], message: "must be >= idleW" });
    if ((p.wake === "wol" || p.wake === "peer-wol") && (!p.mac || !p.address)) {
      ctx.addIssue({ code: "custom", path: p.mac ? ["address"] : ["mac"], message: `required when wake is ${p.wake}` });
    }
    if (p.wake === "ipmi" && (!p.address || !p.ipmi)) {
      ctx.addIssue({ code: "custom", path: p.address ? ["ipmi"] : ["address"], message: "required when wake is ipmi" });
    }
  });
export type PowerConfig = z.output<typeof PowerConfig>;

const RuleConfig = z.discriminatedUnion("kind", [
  z.object({ id: z.string().min(1), kind: z.literal("vm-affinity"), tag: z.string().min(1), hard: z.boolean().default(true) }).strict(),
  z
    .object({ id: z.string().min(1), kind: z.literal("vm-anti-affinity"), tag: z.string().min(1), hard: z.boolean().default(true) })
    .strict(),
  z
    .object({
      id: z.string().min(1),
      kind: z.literal("vm-host"),
      tag: z.string().min(1),
      hosts: z.array(HostId).min(1),
      mode: z.enum(["must", "should", "must-not", "should-not"]).default("must"),
    })
    .strict(),
]);
export type RuleConfig = z.output<typeof RuleConfig>;

export const SchedulerConfig = z
  .object({
    cluster: ClusterName,
    /** Server URLs and identity (nkeySeedFile, credsFile, user + passFile, tokenFile) and TLS: see @drover/bus. */
    nats: z
      .object({
        ...natsConnectionFields,
        requestTimeoutMs: posMs.default(5000),
      })
      .strict(),
    /** Two or more schedulers of one cluster: one leads through a lease in NATS, the others follow (leadership.ts). */
    leadership: z
      .object({
        /** Default: on when nats.servers lists more than one server, off (one scheduler) otherwise. */
        enabled: z.boolean().optional(),
        /** This scheduler's name among its peers (default: the host name and the HTTP port). */
        id: z.string().min(1).max(128).optional(),
        /** A leader that has not renewed its lease for this long loses it to another scheduler. */
        ttlMs: z.number().int().min(1000).max(300_000).default(10_000),
        /** Copies of the lease kept by NATS (default: 3, or fewer with fewer servers). */
        replicas: z.number().int().min(1).max(5).optional(),
        /** This scheduler's API as the followers name it (default: from http.host and http.port when the port is fixed). */
        apiUrl: z.url().max(2048).optional(),
      })
      .strict()
      .prefault({}),
    /** Holds drover.sqlite. */
    stateDir: z.string().min(1),
    http: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        /** 0 = any free port (tests). */
        port: z.number().int().min(0).max(65535).default(7070),
        /** PEM files: with them the API serves HTTPS only. */
        tls: z
          .object({ cert: z.string().min(1), key: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    reports: z
      .object({
        /** The agents' report interval. */
        intervalMs: posMs.default(5000),
        /** A host is unreachable after this many intervals without a valid report. */
        unreachableAfter: z.number().int().min(1).default(3),
        /** Demand history kept per VM and host, in samples (one per report). */
        historySamples: z.number().int().min(1).max(10_000).default(60),
        /** Store writes of report-derived state are batched at this interval. */
        flushIntervalMs: posMs.default(1000),
        /**
         * A report dated further ahead of the scheduler's clock is refused (reachability is judged
         * by the scheduler's receive time; a far-future date must not shadow the host's real reports).
         */
        maxClockSkewMs: ms.default(30_000),
        /** A report payload larger than this is refused before it is parsed. */
        maxBytes: z.number().int().min(1024).default(DEFAULT_MAX_PAYLOAD),
        /**
         * Reports of hosts not listed under `hosts:` are accepted (the host joins). With per-host
         * NATS credentials only a host holding its own identity can report as itself; set false to
         * also require it to be configured here.
         */
        admitUnknownHosts: z.boolean().default(true),
        /** Dropped reports are logged once per subject per this interval, with their count. */
        dropLogIntervalMs: posMs.default(60_000),
      })
      .strict()
      .prefault({}),
    policies: z
      .object({
        balance: z
          .object({ ...policyBase, mode: PolicyMode.default("recommend"), everyMs: posMs.default(60_000) })
          .strict()
          .transform(withPolicyArgs("balance"))
          .prefault({}),
        consolidate: z
          .object({
            ...policyBase,
            mode: PolicyMode.default("off"),
            everyMs: posMs.default(300_000),
            window: WindowConfig.default({ start: "22:00", end: "06:00", days: "*", timezone: "utc", restoreBeforeEndMs: 30 * 60_000 }),
          })
          .strict()
          .transform(withPolicyArgs("consolidate"))
          .prefault({}),
        drain: z
          .object({ ...policyBase, mode: PolicyMode.default("automatic") })
          .strict()
          .transform(withPolicyArgs("drain"))
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Recommended plans not approved within this time expire. */
    planTtlMs: posMs.default(30 * 60_000),
    limits: z
      .object({
        perSource: z.number().int().min(1).default(2),
        perDestination: z.number().int().min(1).default(2),
        perCluster: z.number().int().min(1).default(8),
      })
      .strict()
      .prefault({}),
    migration: z
      .object({
        maxDowntimeMs: posMs.default(300),
        bandwidthMiBs: z.number().positive().optional(),
        escalation: z
          .array(EscalationStep)
          .default([{ action: "raise-downtime", toMs: 1000 }, { action: "auto-converge" }, { action: "abort" }]),
        /** Lab only: disks on a common directory libvirt does not know as shared. */
        allowUnsafe: z.boolean().default(false),
        allowPostCopy: z.boolean().default(false),
        timeoutMs: posMs.default(600_000),
        /** Grace beyond timeoutMs before the scheduler gives up waiting for the agent's result. */
        resultGraceMs: posMs.default(30_000),
        preflight: z.boolean().default(true),
        commandTimeoutMs: posMs.default(10_000),
        /** Fit the cost model's constants to the last `samples` measured live migrations. */
        calibration: z
          .object({
            enabled: z.boolean().default(true),
            samples: z.number().int().min(1).max(1000).default(20),
            minSamples: z.number().int().min(1).max(1000).default(2),
            /** Below this many samples only the setup and switchover offsets are fitted. */
            slopeSamples: z.number().int().min(2).max(1000).default(8),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    cooldowns: z
      .object({
        /** A VM is not moved again within this time of its last migration. */
        vmMs: ms.default(900_000),
        /** A failed (VM, destination) pair is not retried within this time. */
        failureMs: ms.default(1_800_000),
        /** No move back to the host a VM just left within this time (no ping-pong). */
        returnMs: ms.default(3_600_000),
      })
      .strict()
      .prefault({}),
    spare: z
      .object({
        hosts: z.number().int().min(0).default(0),
        cpuFraction: z.number().min(0).max(10).default(0),
      })
      .strict()
      .prefault({}),
    /** The policy's cluster config: capacity, forecast, migration (cost) model. */
    planner: PlannerConfig.prefault({}),
    rules: z.array(RuleConfig).default([]),
    hosts: z.record(HostId, z.object({ power: PowerConfig.prefault({}) }).strict()).default({}),
    /** Plans, migrations and power actions older than this are pruned. */
    retainMs: posMs.default(30 * 24 * 3_600_000),
    // --- Load history and forecasts (issue 14; scheduler/src/load-history*.ts) ---
    history: z
      .object({
        /** Record each host's, VM's and the cluster's load in the store. */
        enabled: z.boolean().default(true),
        /** One full-resolution sample per series this often (mean and peak of the reports since the last). */
        resolutionMs: posMs.min(1000).default(60_000),
        /** Samples older than this are folded into 5-minute buckets (mean and max). */
        fullResolutionMs: posMs.default(6 * 3_600_000),
        /** Buckets older than this are deleted. */
        retainMs: posMs.default(28 * 24 * 3_600_000),
        /** At most this many rows (samples and buckets) are kept; the oldest go first. */
        maxRows: z.number().int().min(1000).default(20_000_000),
        /** Folding and pruning run this often. */
        compactEveryMs: posMs.default(600_000),
        /**
         * Rows written per store flush (one transaction, off the report path): small enough not to hold
         * the event loop (reports queue behind it), enough for 200,000 VMs a minute at one flush a second.
         */
        writeBatchRows: z.number().int().min(100).default(5000),
        /** Rows waiting while the store refuses writes; beyond it the oldest are dropped. */
        maxBacklogRows: z.number().int().min(1000).default(2_000_000),
        /** Plan with the cluster's seasonal demand forecast (once a day of history is recorded). */
        forecast: z.boolean().default(true),
        /** How far ahead the forecast goes (at least the longest wake). */
        forecastHorizonMs: posMs.default(2 * 3_600_000),
        /** How much history a forecast is fitted on. */
        forecastLookbackMs: posMs.default(28 * 24 * 3_600_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type SchedulerConfig = z.output<typeof SchedulerConfig>;
export type SchedulerConfigInput = z.input<typeof SchedulerConfig>;

export class ConfigError extends DroverError {
  override readonly name = "ConfigError";
  readonly code = "invalid-config";
  constructor(
    message: string,
    readonly issues: { key: string; message: string }[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Validates a parsed config object; the error lists every bad key. */
export function parseConfig(input: unknown, source = "config"): SchedulerConfig {
  const r = SchedulerConfig.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ key: i.path.length ? i.path.map(String).join(".") : "(root)", message: i.message }));
  throw new ConfigError(`invalid ${source}: ${issues.map((i) => `${i.key}: ${i.message}`).join("; ")}`, issues, { cause: r.error });
}

export async function loadConfig(file: string): Promise<SchedulerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as Error).message}`, [], { cause: e });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}` : "";
    throw new ConfigError(`config ${file} is not valid YAML${where}: ${(e as Error).message}`, [], { cause: e });
  }
  return parseConfig(data, `config ${file}`);
}
