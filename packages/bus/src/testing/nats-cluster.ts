import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, NatsServer } from "./nats-server.js";

export interface NatsClusterOptions {
  /** One loopback address per node (default 127.0.0.1, 127.0.0.2, 127.0.0.3: three nodes). */
  hosts?: string[];
  /** Cluster name shared by the nodes (default "drover-test"). */
  name?: string;
  /** A nats-server config file every node reads (-c), e.g. writeCredentials()'s; flags here override its listen address and store. */
  configFile?: string;
  /** Milliseconds to wait for every node to be ready and a JetStream meta leader to be elected (default 30 s). */
  startTimeoutMs?: number;
}

/** What a node's monitoring endpoint says about the JetStream meta group. */
export interface MetaView {
  leader: string | undefined;
  /** Peers the node sees as current, the leader included. */
  current: string[];
}

/**
 * A real nats-server cluster on loopback: each node its own address, client port, route port, JetStream
 * store and server name, one cluster name, routes to every node. Nodes are stopped, killed and started
 * again one at a time, by pid, keeping their ports and stores.
 */
export class NatsCluster implements AsyncDisposable {
  private constructor(
    readonly name: string,
    readonly nodes: NatsServer[],
    private readonly monitorPorts: number[],
    private readonly rootDir: string,
    private readonly startTimeoutMs: number,
  ) {}

  /** Every node's client URL: what a connection's `servers` should list. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Server name of node `i` (`n1`, `n2`, ...). */
  serverName(i: number): string {
    return `n${i + 1}`;
  }

  static async start(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
    const hosts = opts.hosts ?? ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    const name = opts.name ?? "drover-test";
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    // Ports picked by the kernel can be taken before the nodes bind them: pick a fresh set and retry.
    for (let attempt = 1; ; attempt++) {
      const rootDir = await mkdtemp(join(tmpdir(), "drover-nats-cluster-"));
      const ports = await Promise.all(
        hosts.map(async (h) => ({ client: await freePort(h), route: await freePort(h), monitor: await freePort(h) })),
      );
      const routes = hosts.map((h, i) => `nats://${h}:${ports[i]!.route}`).join(",");
      const started = await Promise.allSettled(
        hosts.map((host, i) =>
          NatsServer.start({
            host,
            port: ports[i]!.client,
            storeDir: join(rootDir, `n${i + 1}`),
            ...(opts.configFile ? { configFile: opts.configFile } : {}),
            startTimeoutMs: timeoutMs,
            args: [
              ...["--name", `n${i + 1}`, "--cluster_name", name],
              ...["--cluster", `nats://${host}:${ports[i]!.route}`, "--routes", routes],
              ...["-m", String(ports[i]!.monitor)],
            ],
          }),
        ),
      );
      const nodes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const failed = started.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
      const cluster = new NatsCluster(
        name,
        nodes,
        ports.map((p) => p.monitor),
        rootDir,
        timeoutMs,
      );
      if (failed.length === 0) {
        try {
          await cluster.waitForMetaLeader();
          return cluster;
        } catch (e) {
          await cluster.stop();
          throw e;
        }
      }
      await cluster.stop();
      const portTaken = failed.some((e) => /address already in use/i.test(String(e)));
      if (!portTaken || attempt >= 5) throw failed[0] instanceof Error ? failed[0] : new Error(String(failed[0]));
    }
  }

  /** The meta group as node `i` sees it; undefined when the node is down or has no answer yet. */
  async metaView(i: number): Promise<MetaView | undefined> {
    const node = this.nodes[i];
    if (!node?.isRunning) return undefined;
    try {
      const res = await fetch(`http://${node.host}:${this.monitorPorts[i]}/jsz`, { signal: AbortSignal.timeout(2000) });
      const jsz = (await res.json()) as {
        meta_cluster?: { leader?: string; replicas?: { name: string; current?: boolean; offline?: boolean }[] };
      };
      const meta = jsz.meta_cluster;
      const leader = meta?.leader || undefined;
      const current = (meta?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name);
      return { leader, current: leader ? [leader, ...current] : current };
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until every running node names the same JetStream meta leader and that leader sees every
   * running node as current: from then on a replicated stream or KV bucket can be created. Returns the
   * leader's server name.
   */
  async waitForMetaLeader(timeoutMs = this.startTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    for (;;) {
      const running = this.nodes.flatMap((n, i) => (n.isRunning ? [i] : []));
      const views = await Promise.all(running.map((i) => this.metaView(i)));
      const leaders = new Set(views.map((v) => v?.leader));
      const leader = leaders.size === 1 ? views[0]?.leader : undefined;
      const leaderView = views[running.findIndex((i) => this.serverName(i) === leader)];
      if (leader && leaderView && running.every((i) => leaderView.current.includes(this.serverName(i)))) return leader;
      last = running.map((i, k) => `${this.serverName(i)}: leader ${views[k]?.leader ?? "none"}`).join(", ");
      if (Date.now() > deadline)
        throw new Error(`nats cluster ${this.name} elected no JetStream meta leader within ${timeoutMs} ms (${last})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Crashes node `i` (SIGKILL to its pid); its store stays for a restart. */
  async kill(i: number): Promise<void> {
    await this.node(i).kill();
  }

  /** Stops node `i` (SIGTERM, SIGKILL after 5 s); its store stays. */
  async stopNode(i: number): Promise<void> {
    await this.node(i).stopProcess();
  }

  /** Starts node `i` again on its address, ports and store, and waits until the cluster has a meta leader that sees it. */
  async restartNode(i: number): Promise<void> {
    await this.node(i).restart();
    await this.waitForMetaLeader();
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stopProcess()));
    await rm(this.rootDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private node(i: number): NatsServer {
    const n = this.nodes[i];
    if (!n) throw new Error(`nats cluster ${this.name} has no node ${i} (it has ${this.nodes.length})`);
    return n;
  }
}
