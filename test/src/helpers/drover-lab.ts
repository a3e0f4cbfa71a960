// One Drover cluster on a lab for an end-to-end test file: packages/lab's Lab (NATS, libvirtd
// hosts) plus guests of chosen sizes, loads and tags, one drover-agent per host and the scheduler,
// all started from their public bins with YAML configs written here. Stopped (by pid) on dispose.
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Lab,
  hostAddress,
  hostMac,
  hostUri,
  labNatsConnection,
  labSchedulerId,
  migrationPorts,
  netnsPlan,
  natsUrls,
  phaseTimer,
  readTicks,
  startGuest,
  type GuestWorkload,
} from "@drover/lab";
import type { Logger } from "@drover/protocol";
import { useAdminToken } from "./api.js";

/** DROVER_LAB_LOG=debug prints where a lab's start and stop spend their time (packages/lab phaseTimer) on stderr. */
const labLogger: Logger | undefined =
  process.env["DROVER_LAB_LOG"] === "debug"
    ? {
        debug: (o, m) => console.error(m, JSON.stringify(o)),
        info: () => undefined,
        warn: (o, m) => console.error(m, JSON.stringify(o)),
        error: (o, m) => console.error(m, JSON.stringify(o)),
      }
    : undefined;

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const AGENT_BIN = join(REPO_ROOT, "agents", "host-agent", "bin", "drover-agent.js");
const SCHEDULER_BIN = join(REPO_ROOT, "scheduler", "bin", "drover-scheduler.js");

export interface GuestDef {
  name: string;
  host: string;
  memoryMiB?: number;
  tags?: string[];
  workload?: GuestWorkload;
  /** A qcow2 data disk on the host's own storage (packages/lab local-disk.ts). */
  localDisk?: { sizeMiB: number; dataMiB: number };
}

export interface DroverLabOptions {
  /** Third octet, distinct per test file. */
  net: number;
  hosts: number;
  guests: GuestDef[];
  /** Deep-merged over the scheduler config written here. */
  scheduler?: Record<string, unknown>;
  /** Deep-merged over every agent's config written here. */
  agent?: Record<string, unknown>;
  reportIntervalMs?: number;
  /** "netns": hosts in network namespaces behind a lab switch, for network faults (packages/lab netns.ts). */
  network?: "loopback" | "netns";
  /** nats-servers (default 1; 3 for a cluster). */
  natsNodes?: number;
  /** Schedulers (default 1); with more, each its own store and API (`apis`), contending for the lease. */
  schedulers?: number;
  /**
   * Other clusters on the lab's NATS: cluster name -> its hosts (e.g. `{ b: ["h3"] }`), whose agents
   * report there. The lab cluster's scheduler and agents list them as `peerClusters`, so a VM may be
   * moved to them; no scheduler runs for them.
   */
  peerClusters?: Record<string, string[]>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

export class DroverLab implements AsyncDisposable {
  private constructor(
    readonly lab: Lab,
    readonly api: string,
    /** Every scheduler's API, scheduler 1's first (`api`). */
    readonly apis: string[],
    readonly stateDir: string,
    private readonly tmp: string,
  ) {}

  static async start(o: DroverLabOptions): Promise<DroverLab> {
    const tmp = await mkdtemp(join(tmpdir(), `drover-e2e-${o.net}-`));
    const stateDir = join(tmp, "lab");
    const configDir = join(tmp, "configs");
    await mkdir(configDir, { recursive: true });
    const interval = o.reportIntervalMs ?? 2000;
    const plan =
      o.network === "netns"
        ? netnsPlan(
            o.net,
            Array.from({ length: o.hosts }, (_, k) => ({ name: `h${k + 1}`, index: k + 1 })),
          )
        : null;
    const addressOf = (i: number) => plan?.hosts[i - 1]?.address ?? hostAddress(o.net, i);
    // A namespace lab has one nats-server, on the root side of its switch.
    const servers = plan ? [`nats://${plan.rootAddress}:4222`] : natsUrls(o.net, o.natsNodes ?? 1);
    const nSchedulers = o.schedulers ?? 1;
    const apiPort = (k: number) => 7200 + o.net + 1000 * (k - 1);
    const schedulerConfig = (k: number) => join(configDir, k === 1 ? "scheduler.yaml" : `scheduler-${k}.yaml`);
    const hosts: Obj = {};
    const peerClusters = o.peerClusters ?? {};
    const clusterOf = (host: string) => Object.keys(peerClusters).find((c) => peerClusters[c]!.includes(host)) ?? "lab";
    for (let i = 1; i <= o.hosts; i++) {
      const name = `h${i}`;
      const ports = migrationPorts(o.net, i);
      const cluster = clusterOf(name);
      // JSON is YAML: the configs need no YAML writer.
      const agent = deepMerge(
        {
          cluster,
          ...(cluster === "lab" && Object.keys(peerClusters).length ? { peerClusters: Object.keys(peerClusters) } : {}),
          host: name,
          nats: labNatsConnection(stateDir, servers, name),
          libvirt: { uri: hostUri(addressOf(i)) },
          reportIntervalMs: interval,
          labHostFile: join(stateDir, "hosts", name, "lab-host.json"),
          migration: { peerPortMin: ports.min, peerPortMax: ports.max },
        },
        o.agent ?? {},
      );
      await writeFile(join(configDir, `agent-${name}.yaml`), JSON.stringify(agent, null, 2));
      if (cluster !== "lab") continue;
      hosts[name] = { power: { wake: "wol", mac: hostMac(o.net, i), address: addressOf(i), port: 9 } };
    }
    const apis: string[] = [];
    for (let k = 1; k <= nSchedulers; k++) {
      const api = `http://127.0.0.1:${apiPort(k)}`;
      const sched = deepMerge(
        {
          cluster: "lab",
          nats: labNatsConnection(stateDir, servers, "scheduler"),
          stateDir: join(tmp, k === 1 ? "scheduler" : `scheduler-${k}`),
          http: { host: "127.0.0.1", port: apiPort(k) },
          ...(nSchedulers > 1 ? { leadership: { enabled: true, id: labSchedulerId(k), apiUrl: api } } : {}),
          reports: { intervalMs: interval },
          migration: { allowUnsafe: true },
          hosts,
          ...(Object.keys(peerClusters).length ? { peerClusters: Object.keys(peerClusters) } : {}),
        },
        o.scheduler ?? {},
      );
      await writeFile(schedulerConfig(k), JSON.stringify(sched, null, 2));
      await useAdminToken(api, schedulerConfig(k));
      apis.push(api);
    }
    const node = process.execPath;
    let lab: Lab | undefined;
    const phase = phaseTimer(labLogger, `drover lab ${o.net} start`);
    try {
      lab = await Lab.start({
        ...(labLogger ? { logger: labLogger } : {}),
        hosts: o.hosts,
        guests: 0,
        net: o.net,
        stateDir,
        ...(o.network ? { network: o.network } : {}),
        natsNodes: o.natsNodes ?? 1,
        schedulers: nSchedulers,
        ...(o.peerClusters ? { peerClusters: o.peerClusters } : {}),
        agentCommand: (h) => ({ cmd: node, args: [AGENT_BIN, "--config", join(configDir, `agent-${h.name}.yaml`)], cwd: REPO_ROOT }),
        schedulerCommand: (_, k) => ({ cmd: node, args: [SCHEDULER_BIN, "--config", schedulerConfig(k)], cwd: REPO_ROOT }),
      });
      const byHost = new Map<string, GuestDef[]>();
      for (const g of o.guests) byHost.set(g.host, [...(byHost.get(g.host) ?? []), g]);
      phase("lab");
      const l = lab;
      await Promise.all(
        [...byHost].map(async ([h, gs]) => {
          for (const g of gs) {
            await startGuest(l.host(h), {
              name: g.name,
              ...(g.memoryMiB ? { memoryMiB: g.memoryMiB } : {}),
              ...(g.tags ? { tags: g.tags } : {}),
              ...(g.workload ? { workload: g.workload } : {}),
              ...(g.localDisk ? { localDisk: g.localDisk } : {}),
            });
          }
        }),
      );
      phase("guests defined and started");
      const d = new DroverLab(lab, apis[0]!, apis, stateDir, tmp);
      for (const g of o.guests) await d.waitBooted(g.name);
      phase("guests booted");
      return d;
    } catch (e) {
      await lab?.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Adds a guest while the cluster runs (e.g. load rising). */
  async addGuest(g: GuestDef): Promise<void> {
    await startGuest(this.lab.host(g.host), {
      name: g.name,
      ...(g.memoryMiB ? { memoryMiB: g.memoryMiB } : {}),
      ...(g.tags ? { tags: g.tags } : {}),
      ...(g.workload ? { workload: g.workload } : {}),
      ...(g.localDisk ? { localDisk: g.localDisk } : {}),
    });
    await this.waitBooted(g.name);
  }

  /** Waits for the guest's first tick: booted (TCG boots slowly on a loaded machine), not just started. */
  async waitBooted(vm: string, timeoutMs = 180_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((await this.ticks(vm)).last === 0) {
      if (Date.now() > end)
        throw new Error(`guest ${vm} printed no tick within ${timeoutMs} ms (see its serial file under ${this.stateDir}/hosts)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Where the guest's QEMU runs, from the lab's process table (not from Drover). */
  async hostOf(vm: string): Promise<string | null> {
    for (const h of this.lab.hosts) {
      if ((await h.qemuProcs()).some((q) => q.guest === vm)) return h.name;
    }
    return null;
  }

  /** The guest's tick counter on the host that runs it now. */
  async ticks(vm: string): Promise<{ host: string | null; last: number }> {
    const host = await this.hostOf(vm);
    if (!host) return { host, last: 0 };
    return { host, last: await readTicks(this.lab.host(host).serialFile(vm)) };
  }

  schedulerLog(k = 1): string {
    return join(this.stateDir, k === 1 ? "scheduler.log" : `scheduler-${k}.log`);
  }

  async stop(): Promise<void> {
    await this.lab.stop();
    if (!process.env["DROVER_KEEP_LAB"]) await rm(this.tmp, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
