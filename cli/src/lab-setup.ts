// What `drover lab up` and `drover demo` add to packages/lab: the YAML configs of one drover-agent
// per host and of the scheduler (formats in agents/host-agent/README.md and scheduler/README.md),
// the command templates the lab spawns them with, and <stateDir>/drover-api.json, which tells
// every later `drover` command where the lab's API is.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import {
  DEFAULT_NET,
  DEFAULT_WOL_PORT,
  hostAddress,
  hostMac,
  hostUri,
  labDir,
  labNatsConnection,
  labSchedulerId,
  migrationPorts,
  natsUrls,
  type CommandTemplate,
} from "@drover/lab";
import { makeLabApiToken } from "./lab-token.js";
import { AGENT_BIN, REPO_ROOT, SCHEDULER_BIN } from "./paths.js";

export const API_FILE = "drover-api.json";

/** The lab scheduler's HTTP port: 7070 for the default net 1, one port per net octet; scheduler k of several 1000 above per k. */
export function labApiPort(net: number, scheduler = 1): number {
  return 7069 + net + 1000 * (scheduler - 1);
}

export interface LabClusterOptions {
  hosts: number;
  net?: number;
  stateDir?: string;
  cluster?: string;
  natsPort?: number;
  /** nats-servers the apps list (1, or 3 for the lab's cluster). */
  natsNodes?: number;
  /** Schedulers, each with its own config, store and API; more than one contend for the leader lease. */
  schedulers?: number;
  wolPort?: number;
  /** HTTP port of scheduler 1 (default labApiPort(net)); scheduler k listens 1000 above per k. */
  apiPort?: number;
  /** Report interval of the agents, which the scheduler is told too (default 2000 ms). */
  reportIntervalMs?: number;
  /** Deep-merged over the generated scheduler config (e.g. policies, cooldowns). */
  scheduler?: Record<string, unknown>;
  /** Deep-merged over every generated agent config. */
  agent?: Record<string, unknown>;
}

export interface LabCluster {
  stateDir: string;
  /** Scheduler 1's API. */
  apiUrl: string;
  /** The lab's admin token, good on every scheduler (also in <stateDir>/drover-api-token, mode 600). */
  apiToken: string;
  /** Every scheduler's API, each with the lab's admin token. */
  apis: Array<{ url: string; token: string }>;
  configDir: string;
  agent: CommandTemplate;
  scheduler: CommandTemplate;
  agentConfig: (host: string) => string;
  schedulerConfig: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

/** Writes the configs into <stateDir>/configs and returns how to spawn agents and scheduler. */
export async function writeLabCluster(o: LabClusterOptions): Promise<LabCluster> {
  const net = o.net ?? DEFAULT_NET;
  const stateDir = resolve(o.stateDir ?? labDir());
  const cluster = o.cluster ?? "lab";
  const servers = natsUrls(net, o.natsNodes ?? 1, o.natsPort ?? 4222);
  const nSchedulers = o.schedulers ?? 1;
  const wolPort = o.wolPort ?? DEFAULT_WOL_PORT;
  const apiPort = o.apiPort ?? labApiPort(net);
  const reportIntervalMs = o.reportIntervalMs ?? 2000;
  const configDir = join(stateDir, "configs");
  await mkdir(configDir, { recursive: true });
  const agentConfig = (h: string) => join(configDir, `agent-${h}.yaml`);
  const hostsCfg: Obj = {};
  for (let i = 1; i <= o.hosts; i++) {
    const name = `h${i}`;
    const address = hostAddress(net, i);
    const ports = migrationPorts(net, i);
    const cfg = deepMerge(
      {
        cluster,
        host: name,
        // Its own identity: it may publish only its own reports and events and hear only its own commands.
        nats: labNatsConnection(stateDir, servers, name),
        libvirt: { uri: hostUri(address) },
        reportIntervalMs,
        // Lab hosts share one namespace: power-off, wake address, bridges and the shared dir come
        // from the lab's own record of the host.
        labHostFile: join(stateDir, "hosts", name, "lab-host.json"),
        migration: { peerPortMin: ports.min, peerPortMax: ports.max },
        logLevel: "info",
      },
      o.agent ?? {},
    );
    await writeFile(agentConfig(name), `# drover-agent of lab host ${name} (written by drover lab up)\n${stringify(cfg)}`);
    hostsCfg[name] = { power: { wake: "wol", mac: hostMac(net, i), address, port: wolPort } };
  }
  // One scheduler keeps the one config it always had; several are numbered (the template's ${scheduler}).
  const schedulerConfigOf = (k: number | string) => join(configDir, nSchedulers === 1 ? "scheduler.yaml" : `scheduler-${k}.yaml`);
  const urls: string[] = [];
  for (let k = 1; k <= nSchedulers; k++) {
    const port = apiPort + 1000 * (k - 1);
    const url = `http://127.0.0.1:${port}`;
    const sched = deepMerge(
      {
        cluster,
        nats: labNatsConnection(stateDir, servers, "scheduler"),
        stateDir: join(stateDir, k === 1 ? "scheduler" : `scheduler-${k}`),
        http: { host: "127.0.0.1", port },
        // Several schedulers contend for the lease (on by default with several NATS servers) under the lab's ids.
        ...(nSchedulers > 1 ? { leadership: { enabled: true, id: labSchedulerId(k), apiUrl: url } } : {}),
        reports: { intervalMs: reportIntervalMs },
        // The lab's disks sit on a common ext4 directory, which libvirt does not know as shared.
        migration: { allowUnsafe: true },
        hosts: hostsCfg,
      },
      o.scheduler ?? {},
    );
    await writeFile(schedulerConfigOf(k), `# drover-scheduler ${k} of the lab (written by drover lab up)\n${stringify(sched)}`);
    urls.push(url);
  }
  const apiToken = await makeLabApiToken(
    stateDir,
    urls.map((_, i) => schedulerConfigOf(i + 1)),
  );
  const apiUrl = urls[0]!;
  // Every scheduler, comma-separated as --api takes them: a read goes to the first that answers
  // (scheduler 1 may be the one a test or an operator stopped), a change to the leader.
  await writeFile(join(stateDir, API_FILE), `${JSON.stringify({ url: urls.join(",") }, null, 2)}\n`);
  return {
    stateDir,
    apiUrl,
    apiToken,
    apis: urls.map((url) => ({ url, token: apiToken })),
    configDir,
    agentConfig,
    schedulerConfig: schedulerConfigOf(1),
    agent: { cmd: process.execPath, args: [AGENT_BIN, "--config", join(configDir, "agent-${host}.yaml")], cwd: REPO_ROOT },
    scheduler: { cmd: process.execPath, args: [SCHEDULER_BIN, "--config", schedulerConfigOf("${scheduler}")], cwd: REPO_ROOT },
  };
}

/** The API URL a lab recorded in its state dir, if any. */
export function labApiUrl(stateDir = labDir()): string | undefined {
  const f = join(stateDir, API_FILE);
  if (!existsSync(f)) return undefined;
  try {
    const v = JSON.parse(readFileSync(f, "utf8")) as { url?: unknown };
    return typeof v.url === "string" ? v.url : undefined;
  } catch {
    return undefined;
  }
}

/** --api, else DROVER_API, else the lab's recorded API, else the default lab port. */
export function resolveApiUrl(flag: string | undefined): string {
  return flag ?? (process.env["DROVER_API"] || undefined) ?? labApiUrl() ?? `http://127.0.0.1:${labApiPort(DEFAULT_NET)}`;
}
