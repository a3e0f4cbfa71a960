// The scheduler's configuration: read once from YAML, validated, fully defaulted. Every error
// names the key (e.g. `limits.perSource: must be >= 1`).
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { DEFAULT_MAX_PAYLOAD, checkNatsTransport, natsConnectionFields } from "@drover/bus";
import { clusterConfigSchema, getPolicy, policyNames } from "@drover/policy";
import {
  ClusterName,
  ConsolidationWindow,
  DroverError,
  EscalationStep,
  HostId,
  PolicyMode,
  isLoopbackHost,
  issuesOf,
  isPlainHttpOffMachine,
} from "@drover/protocol";
import { WebhookEventKinds } from "./webhook-events.js";

const ms = z.number().int().nonnegative();
const posMs = z.number().int().positive();
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, "must be a MAC like 02:00:00:00:00:01");

/** An IP address or a CIDR range of one (the form fastify's trustProxy takes). */
const ProxyAddress = z
  .string()
  .refine(
    (a) => {
      const [ip = "", prefix, ...rest] = a.split("/");
      const family = isIP(ip);
      if (family === 0 || rest.length > 0) return false;
      return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    },
    { error: "must be an IP address or a CIDR range (e.g. 127.0.0.1, 192.0.2.0/24, ::1)" },
  )
  .refine((a) => !/\/0+$/.test(a), {
    // Every client would be a proxy: any of them could choose the address it is logged by.
    error: "trusts every address, so any client could choose the address it is logged by: list the proxy's own address",
  });

/** The consolidation window's schema is the API's too (`drover schedule consolidate`). */
export const WindowConfig = ConsolidationWindow;
export type WindowConfig = z.output<typeof WindowConfig>;

const policyBase = {
  policy: z.string().min(1).optional().describe("Registered policy name in @drover/policy (default: the kind's own policy)."),
  args: z
    .record(z.string(), z.unknown())
    .default({})
    .describe("Arguments of that policy (packages/policy/README.md): checked against its args schema at load, kept with their defaults."),
};
const modeAbout = "What its plans do: off (none), recommend (stored, wait for `drover plan approve`), automatic (run).";

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
    const args = getPolicy(name).args;
    const r = args.safeParse(entry.args);
    if (r.success) return { ...entry, args: r.data as Record<string, unknown> };
    for (const i of issuesOf(r.error, args))
      ctx.addIssue({ code: "custom", path: ["args", ...(i.field === "(root)" ? [] : i.field.split("."))], message: i.message });
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
    wake: z
      .enum(["wol", "peer-wol", "ipmi", "none"])
      .default("none")
      .describe(
        "How this host is woken: wol (from the scheduler), peer-wol (by a peer's agent), ipmi; none = never powered off by Drover.",
      ),
    mac: mac.optional().describe("The host's MAC address for Wake-on-LAN (required with wol and peer-wol)."),
    address: z.string().min(1).optional().describe("Unicast address of the host (Wake-on-LAN target) or of its BMC (IPMI)."),
    port: z.number().int().min(1).max(65535).default(9).describe("UDP port of the Wake-on-LAN packet."),
    ipmi: z
      .object({
        user: z.string().min(1).describe("BMC user name."),
        passwordEnv: z
          .string()
          .min(1)
          .optional()
          .describe("Environment variable holding the BMC password; given to ipmitool as IPMI_PASSWORD (-E)."),
        passwordFile: z.string().min(1).optional().describe("A file holding the BMC password, read by ipmitool itself (-f)."),
        password: z
          .unknown()
          .optional()
          .describe("Refused: a secret does not belong in the config file (use passwordEnv or passwordFile)."),
        ipmitool: z.string().min(1).default("ipmitool").describe("The ipmitool executable."),
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
      .optional()
      .describe("The BMC's credentials (required with wake: ipmi); exactly one of passwordEnv and passwordFile."),
    wakeTimeoutMs: posMs.default(300_000).describe("A wake counts as done only when the agent reports healthy within this time."),
    powerOffTimeoutMs: posMs.default(120_000).describe("Time to wait for the host to stop reporting after a power-off command."),
    allowPowerOff: z.boolean().default(true).describe("Drover may power this host off."),
    idleW: z
      .number()
      .positive()
      .optional()
      .describe(
        "Measured watts when idle (with maxW, e.g. from SPECpower): consolidation then empties the least efficient hosts first " +
          "(per MHz at full load, or per MiB at the cluster's load when memory binds) and wakes the most efficient ones first.",
      ),
    maxW: z.number().positive().optional().describe("Measured watts at full CPU (goes with idleW)."),
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
    cluster: ClusterName.describe("The cluster's name: every agent of the cluster names the same one (NATS subjects carry it)."),
    nats: z
      .object({
        ...natsConnectionFields,
        requestTimeoutMs: posMs.default(5000).describe("A request to an agent (a command) without an answer in this time fails."),
      })
      .strict()
      .superRefine(checkNatsTransport)
      .describe("How to reach NATS and who to be there: server URLs, identity (a file, never the secret itself) and TLS."),
    leadership: z
      .object({
        enabled: z
          .boolean()
          .optional()
          .describe("Default: on when nats.servers lists more than one server, off (one scheduler) otherwise."),
        id: z
          .string()
          .min(1)
          .max(128)
          .optional()
          .describe("This scheduler's name among its peers (default: the host name and the HTTP port)."),
        ttlMs: z
          .number()
          .int()
          .min(1000)
          .max(300_000)
          .default(10_000)
          .describe("A leader that has not renewed its lease for this long loses it to another scheduler."),
        replicas: z
          .number()
          .int()
          .min(1)
          .max(5)
          .optional()
          .describe("Copies of the lease kept by NATS (default: 3, or fewer with fewer servers)."),
        apiUrl: z
          .url()
          .max(2048)
          .optional()
          .describe(
            "This scheduler's API as the followers name it (default: from http.host and http.port when the port is fixed and " +
              "the host is not a wildcard such as 0.0.0.0).",
          ),
      })
      .strict()
      .prefault({})
      .describe("Two or more schedulers of one cluster: one leads through a lease in NATS, the others follow."),
    stateDir: z.string().min(1).describe("Directory of the store (drover.sqlite): plans, migrations, history, API tokens."),
    http: z
      .object({
        host: z.string().min(1).default("127.0.0.1").describe("Address the HTTP API (and /metrics) listens on."),
        port: z.number().int().min(0).max(65535).default(7070).describe("Port of the HTTP API; 0 = any free port (tests)."),
        tls: z
          .object({
            cert: z.string().min(1).describe("PEM certificate (chain) file."),
            key: z.string().min(1).describe("PEM private key file."),
          })
          .strict()
          .optional()
          .describe("With these PEM files the API serves HTTPS only."),
        trustProxy: z
          .array(ProxyAddress)
          .max(64)
          .default([])
          .describe(
            "Addresses or CIDR ranges of reverse proxies in front of the API: a request from one names its client in " +
              "X-Forwarded-For (refusals are logged by that client). Default none: the client is who connected.",
          ),
        insecure: z
          .boolean()
          .optional()
          .describe(
            "Serve plain HTTP on an address other machines reach (API tokens would cross the network in clear). Refused " +
              "unless set; a loopback address needs no TLS.",
          ),
      })
      .strict()
      .refine((h) => h.tls !== undefined || h.insecure === true || isLoopbackHost(h.host), {
        path: ["host"],
        message:
          "is reachable from other machines and http.tls is not set: API tokens would cross the network in clear. Set http.tls (cert, key), or http.insecure: true",
      })
      .prefault({})
      .describe("The HTTP API the drover CLI talks to, with the OpenAPI document and Prometheus metrics."),
    reports: z
      .object({
        intervalMs: posMs.default(5000).describe("The agents' report interval (agent key reportIntervalMs)."),
        unreachableAfter: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe("A host is unreachable after this many intervals without a valid report."),
        historySamples: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(60)
          .describe("Demand history kept per VM and host, in samples (one per report)."),
        flushIntervalMs: posMs.default(1000).describe("Store writes of report-derived state are batched at this interval."),
        maxClockSkewMs: ms
          .default(30_000)
          .describe(
            "A report dated further ahead of the scheduler's clock is refused (reachability is judged by the scheduler's " +
              "receive time; a far-future date must not shadow the host's real reports).",
          ),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(DEFAULT_MAX_PAYLOAD)
          .describe("A report payload larger than this is refused before it is parsed."),
        admitUnknownHosts: z
          .boolean()
          .default(true)
          .describe(
            "Reports of hosts not listed under `hosts` are accepted (the host joins). With per-host NATS credentials only a " +
              "host holding its own identity can report as itself; set false to also require it to be configured here.",
          ),
        dropLogIntervalMs: posMs
          .default(60_000)
          .describe(
            "Dropped reports and migration messages are logged once per subject, API requests refused for their token once " +
              "per client address, per this interval, with their count.",
          ),
      })
      .strict()
      .prefault({})
      .describe("The hosts' reports: how often they come and when a host counts as unreachable."),
    policies: z
      .object({
        balance: z
          .object({
            ...policyBase,
            mode: PolicyMode.default("recommend").describe(`${modeAbout} Changed at run time by \`drover mode balance MODE\`.`),
            everyMs: posMs
              .default(60_000)
              .describe("How often balancing plans; sooner after a failed move or when a host comes back into service."),
          })
          .strict()
          .transform(withPolicyArgs("balance"))
          .prefault({})
          .describe("Balancing: spreads the load so no host runs above its band."),
        consolidate: z
          .object({
            ...policyBase,
            mode: PolicyMode.default("off").describe(`${modeAbout} Changed at run time by \`drover mode consolidate MODE\`.`),
            everyMs: posMs
              .default(300_000)
              .describe(
                "How often consolidation plans (inside its window); sooner after a failed move or when a host comes back into service.",
              ),
            window: WindowConfig.default({
              start: "22:00",
              end: "06:00",
              days: "*",
              timezone: "utc",
              restoreBeforeEndMs: 30 * 60_000,
              restoreMarginMs: 5 * 60_000,
            }).describe(
              "When consolidation runs (e.g. the night); outside it hosts are woken and the load spread. Changed at run time by " +
                "`drover schedule consolidate`.",
            ),
          })
          .strict()
          .transform(withPolicyArgs("consolidate"))
          .prefault({})
          .describe("Consolidation: packs the VMs onto few hosts inside its window and powers the empty ones off."),
        drain: z
          .object({
            ...policyBase,
            mode: PolicyMode.default("automatic").describe(
              `${modeAbout} off refuses drains. Changed at run time by \`drover mode drain MODE\`.`,
            ),
          })
          .strict()
          .transform(withPolicyArgs("drain"))
          .prefault({})
          .describe("Draining a host for maintenance (`drover drain HOST`)."),
      })
      .strict()
      .prefault({})
      .describe("The three policies and what their plans do (modes set at run time win over these until this section changes)."),
    planTtlMs: posMs.default(30 * 60_000).describe("Recommended plans not approved within this time expire."),
    limits: z
      .object({
        perSource: z.number().int().min(1).default(2).describe("Migrations in flight leaving one host at most."),
        perDestination: z.number().int().min(1).default(2).describe("Migrations in flight arriving at one host at most."),
        perCluster: z.number().int().min(1).default(8).describe("Migrations in flight in the whole cluster at most."),
      })
      .strict()
      .prefault({})
      .describe("In-flight migration limits, enforced for every move (plans, drains and `drover migrate`)."),
    migration: z
      .object({
        maxDowntimeMs: posMs.default(300).describe("Downtime allowed for a live migration's final switchover."),
        bandwidthMiBs: z.number().positive().optional().describe("Bandwidth cap of one migration in MiB/s (default: unlimited)."),
        escalation: z
          .array(EscalationStep)
          .default([{ action: "raise-downtime", toMs: 1000 }, { action: "auto-converge" }, { action: "abort" }])
          .describe(
            "What the agent's watchdog does, step by step, when a migration does not converge: raise-downtime (with toMs), " +
              "auto-converge, post-copy, pause, abort.",
          ),
        allowUnsafe: z.boolean().default(false).describe("Lab only: migrate disks on a common directory libvirt does not know as shared."),
        allowPostCopy: z.boolean().default(false).describe("Post-copy may finish a migration (a failure mid-way loses the guest)."),
        timeoutMs: posMs.default(600_000).describe("A migration still running after this time is aborted."),
        resultGraceMs: posMs
          .default(30_000)
          .describe("Grace beyond timeoutMs before the scheduler gives up waiting for the agent's result."),
        preflight: z.boolean().default(true).describe("Check each move on both hosts (CPU, storage, network, ports) before it starts."),
        allowOlderHypervisor: z
          .boolean()
          .default(false)
          .describe(
            "Let guests move to a host whose libvirt or QEMU is older than the source's (default: refused, by planner and preflight).",
          ),
        commandTimeoutMs: posMs.default(10_000).describe("An agent command (preflight, migrate, abort) unanswered in this time fails."),
        calibration: z
          .object({
            enabled: z.boolean().default(true).describe("Fit the cost model to measured migrations."),
            samples: z.number().int().min(1).max(1000).default(20).describe("Fit to the last this many measured live migrations."),
            minSamples: z.number().int().min(1).max(1000).default(2).describe("No fit below this many samples."),
            slopeSamples: z
              .number()
              .int()
              .min(2)
              .max(1000)
              .default(8)
              .describe("Below this many samples only the setup and switchover offsets are fitted."),
          })
          .strict()
          .prefault({})
          .describe("Fitting the cost model's constants to the last measured live migrations."),
      })
      .strict()
      .prefault({})
      .describe("How each live migration runs."),
    cooldowns: z
      .object({
        vmMs: ms.default(900_000).describe("A VM is not moved again within this time of its last migration."),
        failureMs: ms.default(1_800_000).describe("A failed (VM, destination) pair is not retried within this time."),
        returnMs: ms.default(3_600_000).describe("No move back to the host a VM just left within this time (no ping-pong)."),
      })
      .strict()
      .prefault({})
      .describe("Times that keep plans from moving the same VMs again and again."),
    spare: z
      .object({
        hosts: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe("Keep this many of the largest hosts' worth of free CPU and memory on powered hosts."),
        cpuFraction: z
          .number()
          .min(0)
          .max(10)
          .default(0)
          .describe("Keep this fraction of the total forecast CPU demand free on powered hosts."),
      })
      .strict()
      .prefault({})
      .describe("Spare capacity consolidation leaves powered on."),
    planner: PlannerConfig.prefault({}).describe("The policies' cluster model: capacity, demand forecast, migration cost model."),
    rules: z
      .array(RuleConfig)
      .default([])
      .describe(
        "Placement rules over VMs tagged in libvirt metadata, each {id, kind, tag, ...}: vm-affinity and vm-anti-affinity " +
          "(hard: true|false) keep a tag's VMs together or apart; vm-host (hosts: [...], mode: must|should|must-not|should-not) " +
          "binds them to hosts.",
      ),
    // ---- Notifications (issue 13): webhooks. No receivers by default: nothing is sent. ----
    webhooks: z
      .object({
        receivers: z
          .array(
            z
              .object({
                url: z
                  .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
                  .max(2048)
                  .describe("The receiver's http:// or https:// URL."),
                events: z
                  .array(z.enum(WebhookEventKinds))
                  .min(1)
                  .default([...WebhookEventKinds])
                  .describe("Which events it gets (default: all of them)."),
                secretFile: z
                  .string()
                  .min(1)
                  .optional()
                  .describe("File holding the HMAC secret: each POST then carries `X-Drover-Signature: sha256=<hex>` of its body."),
                insecure: z
                  .boolean()
                  .optional()
                  .describe(
                    "POST over plain http:// to a receiver on another machine (the events, and any token in the URL, would " +
                      "cross the network in clear). Refused unless set; a loopback receiver needs no TLS.",
                  ),
              })
              .strict()
              .refine((r) => r.insecure === true || !isPlainHttpOffMachine(r.url), {
                path: ["url"],
                message:
                  "is plain http:// to another machine: events and any token in the URL would cross the network in clear. Use https://, or set insecure: true",
              }),
          )
          .max(32)
          .default([])
          .describe("Where events are POSTed as JSON, each {url, events, secretFile, insecure}."),
        attempts: z.number().int().min(1).max(20).default(5).describe("Tries per event and receiver, the first included."),
        backoffMs: posMs.default(1000).describe("Wait before the second try, doubling after each, at most maxBackoffMs."),
        maxBackoffMs: posMs.default(60_000).describe("Longest wait between two tries."),
        timeoutMs: posMs.max(60_000).default(5000).describe("One try waits this long for the receiver's answer."),
        queueSize: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(1000)
          .describe("Events waiting per receiver; a new one is dropped (and recorded) when full."),
      })
      .strict()
      .prefault({})
      .describe("Notifications: drain done or blocked, migration failed, host failed to wake, plan proposed (no receivers: nothing sent)."),
    hosts: z
      .record(HostId, z.object({ power: PowerConfig.prefault({}).describe("How Drover powers this host off and wakes it.") }).strict())
      .default({})
      .describe("Per-host settings by host id (the agent's `host`)."),
    peerClusters: z
      .array(ClusterName)
      .max(16)
      .default([])
      .describe(
        "Other clusters on the same NATS whose hosts an operator may move this cluster's VMs to (`drover migrate VM --cluster B`, " +
          "`drover drain HOST --to-cluster B`). Their reports are followed to choose and check a destination; nothing is planned " +
          "for them and no command goes to their hosts. The source agents must list the cluster in their own `peerClusters`.",
      ),
    retainMs: posMs.default(30 * 24 * 3_600_000).describe("Plans, migrations and power actions older than this are pruned."),
    // --- Load history and forecasts (issue 14; scheduler/src/load-history*.ts) ---
    history: z
      .object({
        enabled: z.boolean().default(true).describe("Record each host's, VM's and the cluster's load in the store."),
        resolutionMs: posMs
          .min(1000)
          .default(60_000)
          .describe("One full-resolution sample per series this often (mean and peak of the reports since the last)."),
        fullResolutionMs: posMs.default(6 * 3_600_000).describe("Samples older than this are folded into 5-minute buckets (mean and max)."),
        retainMs: posMs.default(28 * 24 * 3_600_000).describe("Buckets older than this are deleted."),
        maxRows: z
          .number()
          .int()
          .min(1000)
          .default(20_000_000)
          .describe("At most this many rows (samples and buckets) are kept; the oldest go first."),
        compactEveryMs: posMs.default(600_000).describe("Folding and pruning run this often."),
        // Small enough not to hold the event loop (reports queue behind it), enough for 200,000 VMs a
        // minute at one flush a second.
        writeBatchRows: z
          .number()
          .int()
          .min(100)
          .default(5000)
          .describe("Rows written per store flush (one transaction, off the report path)."),
        maxBacklogRows: z
          .number()
          .int()
          .min(1000)
          .default(2_000_000)
          .describe("Rows waiting while the store refuses writes; beyond it the oldest are dropped."),
        forecast: z
          .boolean()
          .default(true)
          .describe("Plan with the cluster's seasonal demand forecast (once a day of history is recorded)."),
        forecastHorizonMs: posMs.default(2 * 3_600_000).describe("How far ahead the forecast goes (at least the longest wake)."),
        forecastLookbackMs: posMs.default(28 * 24 * 3_600_000).describe("How much history a forecast is fitted on."),
      })
      .strict()
      .prefault({})
      .describe("The load history the scheduler records (hosts, VMs, cluster) and the forecast fitted on it."),
  })
  .strict()
  .superRefine((c, ctx) => {
    c.peerClusters.forEach((p, i) => {
      if (p === c.cluster) ctx.addIssue({ code: "custom", path: ["peerClusters", i], message: `${p} is this scheduler's own cluster` });
      else if (c.peerClusters.indexOf(p) !== i)
        ctx.addIssue({ code: "custom", path: ["peerClusters", i], message: `${p} is listed twice` });
    });
  });

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
  const issues = issuesOf(r.error, SchedulerConfig).map((i) => ({ key: i.field, message: i.message }));
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
