import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { WakeListener } from "@drover/wol";
import type { Logger } from "@drover/protocol";
import { inboxPrefixFor, parseIdentityName } from "@drover/bus";
import { checkNet, DEFAULT_NET, DEFAULT_WOL_PORT, MAX_HOSTS, MAX_NATS_NODES, NATS_MONITOR_PORT, natsAddress } from "./addresses.js";
import { badOption, LabError, LabErrorCode } from "./errors.js";
import { ensureGuestImage } from "./guest-image.js";
import { startGuest, type LabGuest, type LabGuestOptions } from "./guest.js";
import { LabHost, type LabHostState, type PowerState } from "./lab-host.js";
import { labDir, readLabFile, readLabFileSync, writeLabFile, type LabFile, type NatsNodeRecord } from "./lab-state.js";
import { isAlive, killProc, procRef, stopProc, type ProcRef, type SpawnSpec } from "./proc.js";
import { checkSpec, ManagedProcess, RestartSupervisor } from "./supervisor.js";
import { killPart, labSchedulerId, natsLogFile, restartPart, schedulerLogFile, startNatsNode, type LabPart } from "./controls.js";
import { readTicks } from "./ticks.js";
import { phaseTimer } from "./phase-timer.js";
import { cut, cutLink, heal, healLink, netnsDown, netnsPlan, netnsUp, type NetnsPlan } from "./netns.js";
import {
  issueLabCredentials,
  labBusOptions,
  labCredentialsDir,
  labNatsConnection,
  writeLabClusterConfigs,
  type LabIdentity,
} from "./lab-credentials.js";
import { natsNodeHealth, readLeader, type NatsNodeHealth } from "./lab-nats.js";

/** What agent and scheduler command builders get to know about the lab. */
export interface LabInfo {
  stateDir: string;
  cluster: string;
  net: number;
  natsUrl: string;
  /** Every nats-server's URL (one by default; three with `natsNodes: 3`). */
  natsUrls: string[];
  hosts: LabHostState[];
}

export interface LabOptions {
  /** Number of hosts h1..hN (default 3, at most 16). */
  hosts?: number;
  /** Number of guests vm1..vmM, spread round-robin over the hosts (default 4). */
  guests?: number;
  /** Third octet of every lab address: host i is 127.0.<net>.<i> (default 1). Distinct per concurrent lab. */
  net?: number;
  /** Default env DROVER_LAB_DIR or /var/lib/drover-lab. Distinct per concurrent lab. */
  stateDir?: string;
  /** Cluster name handed to agents and scheduler (default "lab"). */
  cluster?: string;
  /** NATS port on 127.0.<net>.254 (default 4222). */
  natsPort?: number;
  /**
   * nats-servers (default 1). 3: a cluster on 127.0.<net>.254/.253/.252, routes on loopback with a
   * lab password, each node TLS and the lab's users like the single server, JetStream replicated.
   * Loopback mode only.
   */
  natsNodes?: number;
  /** Options applied to every guest (memory, workload, tags, disk cache...). */
  guest?: Omit<LabGuestOptions, "name" | "uuid">;
  /** Bridges each host claims (recorded in lab-host.json only, see LabHostOptions.bridges). */
  bridges?: string[] | ((host: string) => string[]);
  /** UDP port of the hosts' Wake-on-LAN listeners (default 9). */
  wolPort?: number;
  /** Hosts started without migration TLS certificates (LabHostOptions.migrationCerts), e.g. ["h2"]. */
  withoutMigrationCerts?: string[];
  /** Command line of the agent of one host; the lab spawns, logs and stops it (default: no agents). */
  agentCommand?: (host: LabHostState, lab: LabInfo) => SpawnSpec;
  /**
   * Host identities to issue besides h1..hN, for agents a test runs itself under other host ids
   * (each may publish only its own reports and events, like a lab host's agent).
   */
  agentIdentities?: string[];
  /**
   * Other clusters on the lab's nats-server: cluster name -> lab hosts (or `agentIdentities`) that
   * belong to it instead of the lab's cluster, e.g. `{ b: ["h3", "h4"] }`. Each gets its own
   * scheduler and tools identities (`busOptions("scheduler-b")`, `"tools-b"`); their hosts' agents
   * must be started with that cluster (agentCommand). Hosts and schedulers of the clusters read
   * each other's host reports, nothing else.
   */
  peerClusters?: Record<string, string[]>;
  /**
   * Command line of scheduler `index` (1..`schedulers`; default: none). Each needs its own state
   * dir, API port and, with more than one, the leadership id `labSchedulerId(index)`.
   */
  schedulerCommand?: (lab: LabInfo, index: number) => SpawnSpec;
  /** How many schedulers run (default 1); more than one contend for the leader lease (needs natsNodes > 1 or leadership on). */
  schedulers?: number;
  logger?: Logger;
  /**
   * "loopback" (default): hosts on 127.0.<net>.<i>, bridges only recorded. "netns": each host in
   * its own network namespace on 198.18.<net>.<i> behind a lab switch, real bridges, network
   * faults with cut()/heal() (see netns.ts; adds and removes a blackhole route in the root ns).
   */
  network?: "loopback" | "netns";
  /** Internal: set by the detached keeper of labUp(). */
  ownerKind?: "keeper" | "inline";
}

function checkCount(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw badOption(what, v, `an integer ${min}..${max}`);
  return v;
}

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** LabOptions.peerClusters, checked: other names than the lab's cluster, each host one of `hosts` and in one cluster only. */
function checkPeerClusters(v: unknown, cluster: string, hosts: string[]): Record<string, string[]> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw badOption("peerClusters", v, "an object: cluster name -> host names");
  const owner = new Map<string, string>();
  for (const [peer, peerHosts] of Object.entries(v)) {
    if (!CLUSTER_NAME.test(peer) || peer === cluster)
      throw badOption("peerClusters", peer, `a cluster name (1-64 of [A-Za-z0-9_-]) other than ${cluster}`);
    if (!Array.isArray(peerHosts)) throw badOption(`peerClusters.${peer}`, peerHosts, "a list of host names");
    for (const h of peerHosts as unknown[]) {
      if (typeof h !== "string" || !hosts.includes(h)) throw badOption(`peerClusters.${peer}`, h, `a lab host name (${hosts.join(", ")})`);
      const other = owner.get(h);
      if (other !== undefined) throw badOption(`peerClusters.${peer}`, h, `a host not already in cluster ${other}`);
      owner.set(h, peer);
    }
  }
  return v as Record<string, string[]>;
}

/**
 * A whole local lab: nats-server (JetStream) on 127.0.<net>.254, N LabHosts, M tiny guests on
 * the shared dir, optionally one agent per host and a scheduler, and a Wake-on-LAN listener per
 * host. Everything it starts is recorded (pid + start time) in <stateDir>/lab.json and
 * <stateDir>/hosts/<h>/lab-host.json; stop() — or labDown(stateDir) from another process —
 * ends exactly those processes.
 */
export class Lab implements AsyncDisposable {
  private readonly wake: WakeListener[] = [];
  /** Wakes being carried out: stop() waits for them, so none starts an agent after teardown. */
  private readonly wakes = new Set<Promise<void>>();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  /** libvirtd of every host restarted on a crash, as systemd would (supervisor.ts, RESTART_ON_FAILURE). */
  private readonly supervisor: RestartSupervisor;

  private constructor(
    readonly stateDir: string,
    readonly cluster: string,
    readonly net: number,
    readonly hosts: LabHost[],
    readonly guests: LabGuest[],
    private file: LabFile,
    private readonly log: Logger | undefined,
  ) {
    this.supervisor = new RestartSupervisor(
      () =>
        hosts.map((h) => ({
          name: `libvirtd-${h.name}`,
          crashed: () => h.crashed(),
          // Refreshed first: another process (drover lab restart) may have recorded new pids.
          start: async () => {
            await h.refresh();
            await h.start();
          },
        })),
      log,
    );
  }

  get natsUrl(): string {
    return this.file.natsUrl;
  }

  get natsUrls(): string[] {
    return this.file.natsNodes.map((n) => n.url);
  }

  /** Scheduler 1 as lab.json records it now (a restart from another process included). */
  get scheduler(): ManagedProcess | undefined {
    return this.schedulers[0];
  }

  /** Every scheduler, 1..N in order, as lab.json records them now. */
  get schedulers(): ManagedProcess[] {
    return (readLabFileSync(this.stateDir)?.schedulers ?? []).map((s) => ManagedProcess.fromState(s));
  }

  /** The `nats` section (servers, nkey seed file, TLS files) of a lab identity: "scheduler", "tools" or a host name. */
  natsConnection(who: LabIdentity) {
    return labNatsConnection(this.stateDir, this.natsUrls, who);
  }

  /**
   * Bus.connect options of a lab identity; tests that send commands connect as "scheduler" (or
   * "scheduler-<peer cluster>"), with that cluster's scheduler inbox prefix, the only one it may read.
   */
  busOptions(who: LabIdentity) {
    const o = labBusOptions(this.stateDir, this.natsUrls, who);
    const id = parseIdentityName(who);
    return id?.kind === "scheduler" ? { ...o, inboxPrefix: inboxPrefixFor(id, this.cluster) } : o;
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h)
      throw new LabError(
        LabErrorCode.NotFound,
        `no lab host named ${JSON.stringify(name)} (have ${this.hosts.map((x) => x.name).join(", ")})`,
      );
    return h;
  }

  info(): LabInfo {
    return {
      stateDir: this.stateDir,
      cluster: this.cluster,
      net: this.net,
      natsUrl: this.natsUrl,
      natsUrls: this.natsUrls,
      hosts: this.hosts.map((h) => h.state()),
    };
  }

  static async start(opts: LabOptions = {}): Promise<Lab> {
    const nHosts = checkCount("hosts", opts.hosts ?? 3, 1, MAX_HOSTS);
    const nGuests = checkCount("guests", opts.guests ?? 4, 0, 32);
    const net = checkNet(opts.net ?? DEFAULT_NET);
    const natsPort = checkCount("natsPort", opts.natsPort ?? 4222, 1, 65535);
    const nNats = checkCount("natsNodes", opts.natsNodes ?? 1, 1, MAX_NATS_NODES);
    const nSchedulers = checkCount("schedulers", opts.schedulers ?? 1, 1, 5);
    const wolPort = checkCount("wolPort", opts.wolPort ?? DEFAULT_WOL_PORT, 1, 65535);
    const cluster = opts.cluster ?? "lab";
    if (!CLUSTER_NAME.test(cluster)) throw badOption("cluster", cluster, "1-64 of [A-Za-z0-9_-]");
    const mode = opts.network ?? "loopback";
    if (mode !== "loopback" && mode !== "netns") throw badOption("network", mode, "loopback|netns");
    if (mode === "netns" && nNats > 1) throw badOption("natsNodes", nNats, "1 in namespace mode (a NATS cluster runs on loopback only)");
    if (opts.agentCommand !== undefined && typeof opts.agentCommand !== "function") {
      throw badOption("agentCommand", opts.agentCommand, "a function (host, lab) => {cmd, args, env?}");
    }
    if (opts.schedulerCommand !== undefined && typeof opts.schedulerCommand !== "function") {
      throw badOption("schedulerCommand", opts.schedulerCommand, "a function (lab, index) => {cmd, args, env?}");
    }
    const hostNames = Array.from({ length: nHosts }, (_, k) => `h${k + 1}`);
    const uncertified: unknown = opts.withoutMigrationCerts ?? [];
    if (!Array.isArray(uncertified)) throw badOption("withoutMigrationCerts", uncertified, "a list of host names");
    for (const h of uncertified) {
      if (!hostNames.includes(h as string)) throw badOption("withoutMigrationCerts", h, `a lab host name h1..h${nHosts}`);
    }
    const peerClusters = checkPeerClusters(opts.peerClusters ?? {}, cluster, [...hostNames, ...(opts.agentIdentities ?? [])]);
    const stateDir = resolve(opts.stateDir ?? labDir());
    const log = opts.logger;

    const previous = await readLabFile(stateDir);
    if (previous && (await labRuns(previous))) {
      throw new LabError(LabErrorCode.Busy, `a lab already runs in ${stateDir} (see lab.json); stop it first (drover lab down)`);
    }
    if (previous) await teardown(stateDir, log);
    // Domains and disks of an earlier lab in this dir would come back with its libvirtds.
    await rm(join(stateDir, "hosts"), { recursive: true, force: true });
    await rm(join(stateDir, "shared"), { recursive: true, force: true });
    await rm(join(stateDir, "nats"), { recursive: true, force: true });
    await mkdir(stateDir, { recursive: true });

    const names = hostNames.map((name, k) => ({ name, index: k + 1 }));
    const plan = mode === "netns" ? netnsPlan(net, names) : undefined;
    const bridgesOf = (name: string) => (typeof opts.bridges === "function" ? opts.bridges(name) : (opts.bridges ?? []));
    const hosts = names.map(({ name, index }) => {
      const ns = plan?.hosts.find((h) => h.name === name);
      return new LabHost({
        name,
        index,
        net,
        stateDir,
        bridges: bridgesOf(name),
        wolPort,
        migrationCerts: !(opts.withoutMigrationCerts ?? []).includes(name),
        ...(ns ? { netns: { ns: ns.ns, address: ns.address } } : {}),
        ...(log ? { logger: log } : {}),
      });
    });
    const natsNodes = Array.from({ length: nNats }, (_, k) => {
      const host = plan ? plan.rootAddress : natsAddress(net, k + 1);
      return { name: `n${k + 1}`, host, url: `nats://${host}:${natsPort}` };
    });
    const file: LabFile = {
      version: 1,
      status: "starting",
      stateDir,
      cluster,
      net,
      natsUrl: natsNodes[0]!.url,
      natsNodes: [],
      owner: { kind: opts.ownerKind ?? "inline", proc: procRef(process.pid) ?? null },
      hosts: hosts.map((h) => ({ name: h.name, dir: h.dir })),
      guests: [],
      schedulers: [],
      network: plan ? { mode: "netns", plan } : { mode: "loopback" },
      startedAt: new Date().toISOString(),
    };
    // Written before anything is made, so a failed start can always be undone from the file.
    await writeLabFile(file);
    const lab = new Lab(stateDir, cluster, net, hosts, [], file, log);
    const phase = phaseTimer(log, "lab start");
    try {
      if (plan) await netnsUp(plan, Object.fromEntries(names.map(({ name }) => [name, bridgesOf(name)])));
      if (plan) phase("network namespaces");
      const startNats = async () => {
        const inPeerCluster = new Set(Object.values(peerClusters).flat());
        const creds = await issueLabCredentials(
          stateDir,
          cluster,
          [...hosts.map((h) => h.name), ...(opts.agentIdentities ?? [])].filter((h) => !inPeerCluster.has(h)),
          natsNodes.map((n) => n.url),
          peerClusters,
        );
        // A single server keeps its one config and store; cluster nodes each their own (routes, name, store).
        const configs = nNats > 1 ? await writeLabClusterConfigs(stateDir, cluster, natsNodes) : [creds.serverConfigFile];
        file.natsNodes = natsNodes.map((n, k): NatsNodeRecord => ({
          name: n.name,
          url: n.url,
          monitorUrl: nNats > 1 ? `http://${n.host}:${NATS_MONITOR_PORT}` : null,
          command: {
            cmd: "nats-server",
            args: [
              ...["-c", configs[k]!, "-a", n.host, "-p", String(natsPort), "-js"],
              ...["-sd", nNats > 1 ? join(stateDir, "nats", n.name) : join(stateDir, "nats")],
              ...(nNats > 1 ? ["-m", String(NATS_MONITOR_PORT)] : []),
            ],
          },
          logFile: natsLogFile(stateDir, k + 1),
          proc: null,
        }));
        await writeLabFile(file);
        // Together: a cluster node waits for its routes before JetStream is ready. Every node that
        // started is recorded before a failure is thrown, so the teardown ends it.
        const started = await Promise.allSettled(
          file.natsNodes.map(async (n) => {
            n.proc = await startNatsNode(n);
          }),
        );
        await writeLabFile(file);
        for (const r of started) if (r.status === "rejected") throw r.reason;
      };
      // NATS (its credentials first) and the hosts' libvirtds start together: neither needs the
      // other, and both wait mostly on openssl and process start-up, one after the other seconds on
      // a loaded machine. Everything settles before a failure is thrown, so the teardown finds
      // every process that was started.
      const up = await Promise.allSettled([startNats(), ...hosts.map((h) => h.start())]);
      for (const r of up) if (r.status === "rejected") throw r.reason;
      phase("nats and libvirtd");
      if (nGuests > 0) await ensureGuestImage(opts.guest?.cacheDir);
      // One guest at a time per host: QEMU start-up is CPU-bound and the machine has two cores.
      const perHost = hosts.map(() => [] as number[]);
      for (let g = 0; g < nGuests; g++) perHost[g % nHosts]?.push(g + 1);
      await Promise.all(
        hosts.map(async (h, k) => {
          for (const g of perHost[k] ?? []) {
            const guest = await startGuest(h, { ...opts.guest, name: `vm${g}` });
            lab.guests.push(guest);
            file.guests.push({ name: guest.name, uuid: guest.uuid, diskPath: guest.diskPath, firstHost: h.name });
          }
        }),
      );
      file.guests.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
      await writeLabFile(file);
      phase("guests");
      if (opts.agentCommand) {
        for (const h of hosts) {
          await h.setAgent(checkSpec(`agentCommand(${h.name})`, opts.agentCommand(h.state(), lab.info())));
          await h.startAgent();
        }
      }
      if (opts.schedulerCommand) {
        for (let k = 1; k <= nSchedulers; k++) {
          const spec = checkSpec(`schedulerCommand(${k})`, opts.schedulerCommand(lab.info(), k));
          const scheduler = new ManagedProcess(k === 1 ? "scheduler" : `scheduler-${k}`, spec, schedulerLogFile(stateDir, k));
          scheduler.start();
          file.schedulers.push(scheduler.state());
        }
      }
      // Together: in namespace mode each listener is a process of its own, seconds to start on a
      // loaded machine. All settle before a failure is thrown, so the teardown finds each one.
      const listening = await Promise.allSettled(
        hosts.map(async (h) => {
          if (h.netns) await h.startNic();
          else lab.wake.push(await WakeListener.listen(h.address, wolPort, h.mac, () => lab.onWake(h)));
        }),
      );
      for (const r of listening) if (r.status === "rejected") throw r.reason;
      phase("agents, schedulers, wake listeners");
      lab.supervisor.start();
      file.status = "running";
      await writeLabFile(file);
      log?.info({ stateDir, hosts: nHosts, guests: nGuests, nats: file.natsNodes.map((n) => n.url) }, "lab started");
      return lab;
    } catch (e) {
      await lab.stop().catch((stopErr: unknown) => log?.error({ err: stopErr }, "lab teardown after a failed start failed"));
      throw e;
    }
  }

  private onWake(h: LabHost): void {
    if (this.stopping) return;
    const wake = this.powerOnAfterWake(h);
    this.wakes.add(wake);
    void wake.finally(() => this.wakes.delete(wake));
  }

  private async powerOnAfterWake(h: LabHost): Promise<void> {
    try {
      await h.refresh();
      if (h.power === "off" || !h.running) {
        this.log?.info({ host: h.name, mac: h.mac }, "wake-on-lan packet: powering on");
        await h.powerOn();
      }
    } catch (e) {
      this.log?.error({ host: h.name, err: e }, "wake-on-lan power on failed");
    }
  }

  private netnsPlan(): NetnsPlan {
    if (this.file.network.mode !== "netns")
      throw new LabError(LabErrorCode.BadOption, 'network faults need a lab started with network: "netns"');
    return this.file.network.plan;
  }

  /** Network fault (namespace mode): unplugs the host from the lab switch; everything on it keeps running. */
  async cut(host: string): Promise<void> {
    await cut(this.netnsPlan(), this.host(host).name);
  }

  async heal(host: string): Promise<void> {
    await heal(this.netnsPlan(), this.host(host).name);
  }

  /** Network fault (namespace mode): parts two hosts from each other only; both still reach NATS and the other hosts. */
  async cutLink(a: string, b: string): Promise<void> {
    await cutLink(this.netnsPlan(), a, b);
  }

  async healLink(a: string, b: string): Promise<void> {
    await healLink(this.netnsPlan(), a, b);
  }

  /**
   * Stops one part (by pid) and starts it again with the same command line; `which` is the host of
   * an agent or libvirtd, or the number of a scheduler or NATS node when the lab runs several.
   */
  async restart(part: LabPart, which?: string | number): Promise<void> {
    await restartPart(this.stateDir, part, which?.toString(), { hosts: this.hosts, ...(this.log ? { log: this.log } : {}) });
  }

  /** SIGKILL to one part (a crash). A killed libvirtd comes back by itself (supervision); the rest on restart(). */
  async kill(part: LabPart, which?: string | number): Promise<void> {
    await killPart(this.stateDir, part, which?.toString(), { hosts: this.hosts, ...(this.log ? { log: this.log } : {}) });
  }

  async restartScheduler(): Promise<void> {
    await this.restart("scheduler");
  }

  async status(): Promise<LabStatus> {
    return labStatus(this.stateDir);
  }

  /**
   * Stops everything this lab started (by pid), removes its domains; logs stay in the state dir.
   * Called again (a signal handler beside a `finally`), it waits for the same teardown.
   */
  stop(): Promise<void> {
    return (this.stopped ??= this.teardownOnce());
  }

  private async teardownOnce(): Promise<void> {
    // Nothing may start anything after the sweep: no new wake, no supervised restart, and the
    // wakes already under way are waited for (each powers on libvirtd, then the agent).
    this.stopping = true;
    await Promise.all(this.wake.splice(0).map((w) => w.close()));
    await this.supervisor.stop();
    await Promise.allSettled([...this.wakes]);
    // Re-read: another process (drover lab restart) may have recorded new pids since.
    const file = (await readLabFile(this.stateDir)) ?? this.file;
    file.status = "stopping";
    await writeLabFile(file);
    const phase = phaseTimer(this.log, "lab stop");
    await teardown(this.stateDir, this.log);
    phase("teardown");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export interface LabStatus {
  /** "absent": no lab.json in the state dir. */
  status: LabFile["status"] | "absent";
  /** True when any process of the lab still runs. */
  running: boolean;
  stateDir: string;
  cluster: string | null;
  net: number | null;
  network: "loopback" | "netns" | null;
  /** Node 1 (the one server by default). credentialsDir: the lab identities' seeds and certificates (see lab-credentials.ts). */
  nats: { url: string; pid: number | null; running: boolean; credentialsDir: string } | null;
  /** Every nats-server; a cluster node also with its own view of JetStream (null: it does not answer). */
  natsNodes: Array<{ name: string; url: string; pid: number | null; running: boolean; health: NatsNodeHealth | null }>;
  owner: { kind: "keeper" | "inline"; pid: number | null; running: boolean } | null;
  hosts: Array<{
    name: string;
    address: string;
    uri: string;
    mac: string;
    power: PowerState;
    libvirtd: { pid: number | null; running: boolean };
    agent: { pid: number | null; running: boolean; logFile: string } | null;
    /** Namespace mode: the host's network namespace and its Wake-on-LAN listener process. */
    netns: string | null;
    nic: { pid: number | null; running: boolean } | null;
    bridges: string[];
    /** Guests whose QEMU runs on this host (from libvirt's pid files; works while libvirtd is down). */
    guests: string[];
  }>;
  guests: Array<{ name: string; uuid: string; host: string | null; ticks: number }>;
  /** Scheduler 1. */
  scheduler: { pid: number | null; running: boolean; logFile: string } | null;
  /** Every scheduler; with more than one, `leading` says which holds the leader lease (labSchedulerId). */
  schedulers: Array<{ index: number; id: string; pid: number | null; running: boolean; logFile: string; leading: boolean }>;
  /** The leader lease's holder (only read when the lab runs more than one scheduler); null if none holds it. */
  leader: { id: string; apiUrl: string | null } | null;
}

const procStatus = (p: ProcRef | null | undefined) => ({
  pid: isAlive(p ?? undefined) ? (p?.pid ?? null) : null,
  running: isAlive(p ?? undefined),
});

async function loadHosts(file: LabFile, log?: Logger): Promise<LabHost[]> {
  const hosts: LabHost[] = [];
  for (const h of file.hosts) {
    if (existsSync(join(h.dir, "lab-host.json"))) hosts.push(await LabHost.load(h.dir, log));
  }
  return hosts;
}

async function labRuns(file: LabFile): Promise<boolean> {
  if (file.owner.kind === "keeper" && isAlive(file.owner.proc ?? undefined)) return true;
  return anyStarted(file);
}

/** The lab in `stateDir` as its state files and the process table describe it. */
export async function labStatus(stateDir = labDir()): Promise<LabStatus> {
  const dir = resolve(stateDir);
  const file = await readLabFile(dir);
  if (!file) {
    return {
      status: "absent",
      running: false,
      stateDir: dir,
      cluster: null,
      net: null,
      network: null,
      nats: null,
      natsNodes: [],
      owner: null,
      hosts: [],
      guests: [],
      scheduler: null,
      schedulers: [],
      leader: null,
    };
  }
  const hosts = await loadHosts(file);
  const where = new Map<string, string>();
  const hostRows: LabStatus["hosts"] = [];
  for (const h of hosts) {
    const s = h.state();
    const guests = (await h.qemuProcs()).map((q) => q.guest).sort();
    for (const g of guests) where.set(g, h.name);
    hostRows.push({
      name: s.name,
      address: s.address,
      uri: s.uri,
      mac: s.mac,
      power: s.power,
      libvirtd: procStatus(s.libvirtd),
      agent: s.agent ? { ...procStatus(s.agent.proc), logFile: s.agent.logFile } : null,
      netns: s.netns,
      nic: s.netns ? procStatus(s.nic) : null,
      bridges: s.bridges,
      guests,
    });
  }
  const guests: LabStatus["guests"] = [];
  for (const g of file.guests) {
    const host = where.get(g.name) ?? null;
    const h = hosts.find((x) => x.name === host);
    guests.push({ name: g.name, uuid: g.uuid, host, ticks: h ? await readTicks(h.serialFile(g.name)) : 0 });
  }
  const natsNodes = await Promise.all(
    file.natsNodes.map(async (n) => {
      const p = procStatus(n.proc);
      return { name: n.name, url: n.url, ...p, health: p.running && n.monitorUrl ? await natsNodeHealth(n.monitorUrl) : null };
    }),
  );
  const first = file.natsNodes[0];
  const nats = first ? { url: first.url, ...procStatus(first.proc), credentialsDir: labCredentialsDir(dir) } : null;
  const owner = { kind: file.owner.kind, ...procStatus(file.owner.proc) };
  const holder =
    file.schedulers.length > 1 && natsNodes.some((n) => n.running)
      ? await readLeader(
          dir,
          file.natsNodes.map((n) => n.url),
          file.cluster,
        )
      : null;
  const schedulers = file.schedulers.map((x, k) => ({
    index: k + 1,
    id: labSchedulerId(k + 1),
    ...procStatus(x.proc),
    logFile: x.logFile,
    leading: holder?.id === labSchedulerId(k + 1) && isAlive(x.proc ?? undefined),
  }));
  const scheduler = schedulers[0] ? { pid: schedulers[0].pid, running: schedulers[0].running, logFile: schedulers[0].logFile } : null;
  const running =
    natsNodes.some((n) => n.running) ||
    (owner.kind === "keeper" && owner.running) ||
    schedulers.some((x) => x.running) ||
    hostRows.some((h) => h.libvirtd.running || (h.agent?.running ?? false) || (h.nic?.running ?? false) || h.guests.length > 0);
  return {
    status: file.status,
    running,
    stateDir: dir,
    cluster: file.cluster,
    net: file.net,
    network: file.network?.mode ?? "loopback",
    nats,
    natsNodes,
    owner,
    hosts: hostRows,
    guests,
    scheduler,
    schedulers,
    leader: holder ? { id: holder.id, apiUrl: holder.apiUrl ?? null } : null,
  };
}

/** True when a process the lab started (not its owner) still runs. */
async function anyStarted(file: LabFile): Promise<boolean> {
  if (file.natsNodes.some((n) => isAlive(n.proc ?? undefined)) || file.schedulers.some((s) => isAlive(s.proc ?? undefined))) return true;
  for (const h of await loadHosts(file)) {
    if (h.running || h.agent?.running || h.state().nic || (await h.qemuProcs()).length > 0) return true;
  }
  return false;
}

/**
 * Ends every process recorded in the state files, newest layer first: scheduler, Wake-on-LAN NIC
 * processes (so no wake starts anything behind the sweep), agents, guests (destroyed and undefined
 * through their libvirtd; a QEMU left without one is killed by pid), libvirtds, NATS. Then reads
 * the state again and sweeps once more if anything recorded since still runs (a power-on that was
 * under way in another process). Safe to run twice and from any process.
 */
export async function teardown(stateDir: string, log?: Logger): Promise<void> {
  for (let pass = 1; pass <= 3; pass++) {
    const file = await readLabFile(stateDir);
    if (!file) return;
    await sweep(file, log);
    const after = await readLabFile(stateDir);
    if (!after || !(await anyStarted(after))) break;
    log?.warn({ stateDir, pass }, "processes recorded during teardown still run: sweeping again");
  }
  const file = await readLabFile(stateDir);
  if (!file) return;
  if (file.network?.mode === "netns") await netnsDown(file.network.plan);
  file.status = "stopped";
  file.natsNodes = file.natsNodes.map((n) => ({ ...n, proc: null }));
  file.schedulers = file.schedulers.map((s) => ({ ...s, proc: null }));
  await writeLabFile(file);
  log?.info({ stateDir }, "lab stopped");
}

async function sweep(file: LabFile, log?: Logger): Promise<void> {
  const phase = phaseTimer(log, "lab sweep");
  await Promise.all(file.schedulers.map((s) => stopProc(s.proc ?? undefined)));
  phase("schedulers");
  const hosts = await loadHosts(file, log);
  await Promise.all(hosts.map((h) => h.stopNic()));
  await Promise.all(hosts.map((h) => h.stopAgent()));
  phase("agents");
  await Promise.all(
    hosts.map(async (h) => {
      // The guests are thrown away: killed at once, by the pids libvirt recorded for them. Their
      // definitions go with the host's directory at the next start; libvirt's destroy and undefine
      // cost a connection, whose first open in a process starts @drover/libvirt's worker pool
      // (1.6 s here), and a graceful end of each QEMU.
      const hp = phaseTimer(log, `lab sweep ${h.name}`);
      await Promise.all((await h.qemuProcs()).map((q) => killProc(q.proc)));
      hp("guests killed");
      await h.stop();
      hp("libvirtd stopped");
    }),
  );
  phase("guests and libvirtd");
  await Promise.all(file.natsNodes.map((n) => stopProc(n.proc ?? undefined)));
  phase("nats");
}
