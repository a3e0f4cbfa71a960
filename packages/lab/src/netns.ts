import { LabError, LabErrorCode } from "./errors.js";
import { run } from "./proc.js";

/**
 * Namespace mode: each lab host gets its own network namespace, wired to a bridge `sw0` in a
 * "switch" namespace by a veth pair; the root namespace reaches the hosts through one more veth.
 *
 *   subnet        198.18.<net>.0/24 (inside 198.18.0.0/15, RFC 2544's benchmarking range: never
 *                 routed on real networks)
 *   host i        198.18.<net>.<i> on eth0 in namespace drv<net>-h<i>
 *   root side     198.18.<net>.254/32 on veth drv<net>r (NATS listens there), /32 routes to the hosts
 *   switch        namespace drv<net>-sw: bridge sw0, one port p<i> per host plus port "root"
 *
 * Before anything else, `ip route replace blackhole 198.18.<net>.0/24` goes into the root
 * namespace, and is removed last on teardown: an address of the subnet without a /32 route to
 * our veth is dropped, never sent to the real network. Network faults: cut()/heal() take a
 * host's switch port down/up; cutLink()/healLink() part two hosts from each other only.
 */
export const NETNS_PREFIX = "198.18";

export interface NetnsPlan {
  net: number;
  subnet: string;
  switchNs: string;
  rootVeth: string;
  rootAddress: string;
  hosts: Array<{ name: string; index: number; ns: string; address: string; port: string }>;
}

export function netnsPlan(net: number, hosts: Array<{ name: string; index: number }>): NetnsPlan {
  return {
    net,
    subnet: `${NETNS_PREFIX}.${net}.0/24`,
    switchNs: `drv${net}-sw`,
    rootVeth: `drv${net}r`,
    rootAddress: `${NETNS_PREFIX}.${net}.254`,
    hosts: hosts.map((h) => ({
      name: h.name,
      index: h.index,
      ns: `drv${net}-${h.name}`,
      address: `${NETNS_PREFIX}.${net}.${h.index}`,
      port: `p${h.index}`,
    })),
  };
}

const ip = (...args: string[]) => run("ip", args, { timeoutMs: 15_000 });

async function existingNamespaces(): Promise<Set<string>> {
  const out = await ip("netns", "list");
  return new Set(
    out
      .split("\n")
      .map((l) => l.trim().split(" ")[0] ?? "")
      .filter((s) => s !== ""),
  );
}

/** Builds the namespaces; `bridges[host]` are real bridges created inside that host's namespace. */
export async function netnsUp(plan: NetnsPlan, bridges: Record<string, readonly string[]>): Promise<void> {
  const route = (await ip("route", "show", "exact", plan.subnet)).trim();
  if (route !== "" && !route.startsWith("blackhole")) {
    throw new LabError(LabErrorCode.Busy, `root namespace already routes ${plan.subnet} (${route}); pick another net octet`);
  }
  const have = await existingNamespaces();
  const clash = [plan.switchNs, ...plan.hosts.map((h) => h.ns)].filter((n) => have.has(n));
  if (clash.length > 0)
    throw new LabError(LabErrorCode.Busy, `network namespaces ${clash.join(", ")} exist already (another lab on net ${plan.net}?)`);
  // First, so that nothing below can ever send a lab address to the real network.
  await ip("route", "replace", "blackhole", plan.subnet);
  await ip("netns", "add", plan.switchNs);
  await ip("-n", plan.switchNs, "link", "add", "sw0", "type", "bridge");
  await ip("-n", plan.switchNs, "link", "set", "sw0", "up");
  for (const h of plan.hosts) {
    const [a, b] = [`drv${plan.net}${h.name}a`, `drv${plan.net}${h.name}b`];
    await ip("netns", "add", h.ns);
    await ip("-n", h.ns, "link", "set", "lo", "up");
    await ip("link", "add", a, "type", "veth", "peer", "name", b);
    await ip("link", "set", a, "netns", h.ns);
    await ip("link", "set", b, "netns", plan.switchNs);
    await ip("-n", h.ns, "link", "set", a, "name", "eth0");
    await ip("-n", h.ns, "addr", "add", `${h.address}/24`, "dev", "eth0");
    await ip("-n", h.ns, "link", "set", "eth0", "up");
    await ip("-n", plan.switchNs, "link", "set", b, "name", h.port);
    await ip("-n", plan.switchNs, "link", "set", h.port, "master", "sw0", "up");
    for (const br of bridges[h.name] ?? []) {
      await ip("-n", h.ns, "link", "add", br, "type", "bridge");
      await ip("-n", h.ns, "link", "set", br, "up");
    }
  }
  await ip("link", "add", plan.rootVeth, "type", "veth", "peer", "name", `${plan.rootVeth}b`);
  await ip("link", "set", `${plan.rootVeth}b`, "netns", plan.switchNs);
  await ip("-n", plan.switchNs, "link", "set", `${plan.rootVeth}b`, "name", "root");
  await ip("-n", plan.switchNs, "link", "set", "root", "master", "sw0", "up");
  await ip("addr", "add", `${plan.rootAddress}/32`, "dev", plan.rootVeth);
  await ip("link", "set", plan.rootVeth, "up");
  for (const h of plan.hosts) {
    await ip("route", "add", `${h.address}/32`, "dev", plan.rootVeth, "src", plan.rootAddress);
  }
}

/** Removes what netnsUp() made (namespaces, root veth, then the blackhole route). Idempotent. */
export async function netnsDown(plan: NetnsPlan): Promise<void> {
  const have = await existingNamespaces().catch(() => new Set<string>());
  for (const ns of [...plan.hosts.map((h) => h.ns), plan.switchNs]) {
    if (have.has(ns)) await ip("netns", "del", ns).catch(() => undefined);
  }
  // Deleting a namespace frees its veth ends asynchronously; do not leave ours to chance.
  await ip("link", "del", plan.rootVeth).catch(() => undefined);
  await ip("route", "del", "blackhole", plan.subnet).catch(() => undefined);
}

function hostOf(plan: NetnsPlan, host: string) {
  const h = plan.hosts.find((x) => x.name === host);
  if (!h) throw new LabError(LabErrorCode.NotFound, `no namespaced lab host named ${JSON.stringify(host)}`);
  return h;
}

/** Network fault: unplugs a host from the lab switch (its libvirtd, agent and guests stay up). */
export async function cut(plan: NetnsPlan, host: string): Promise<void> {
  await ip("-n", plan.switchNs, "link", "set", hostOf(plan, host).port, "down");
}

export async function heal(plan: NetnsPlan, host: string): Promise<void> {
  await ip("-n", plan.switchNs, "link", "set", hostOf(plan, host).port, "up");
}

const bridgeCmd = (...args: string[]) => run("bridge", args, { timeoutMs: 15_000 });

/** Switch ports isolated now (`bridge link ... isolated on`), by host name. */
async function isolatedHosts(plan: NetnsPlan): Promise<string[]> {
  const out = await bridgeCmd("-n", plan.switchNs, "-d", "link", "show");
  const ports = new Set<string>();
  let port: string | undefined;
  for (const line of out.split("\n")) {
    const head = /^\d+: ([^:@\s]+)/.exec(line);
    if (head) port = head[1];
    if (port && /\bisolated on\b/.test(line)) ports.add(port);
  }
  return plan.hosts.filter((h) => ports.has(h.port)).map((h) => h.name);
}

function pairOf(plan: NetnsPlan, a: string, b: string) {
  const [x, y] = [hostOf(plan, a), hostOf(plan, b)];
  if (x === y) throw new LabError(LabErrorCode.BadOption, `a link joins two hosts, got ${JSON.stringify(a)} twice`);
  return [x, y] as const;
}

/**
 * Network fault between two hosts only: frames between their switch ports are dropped silently
 * (bridge port isolation: isolated ports reach only non-isolated ones), while both keep reaching
 * the root side (NATS, the scheduler's wakes) and every other host. One pair at a time: a second
 * pair would also part the first pair's hosts from the second's, so it is refused.
 */
export async function cutLink(plan: NetnsPlan, a: string, b: string): Promise<void> {
  const pair = pairOf(plan, a, b);
  const names = pair.map((h) => h.name);
  const other = (await isolatedHosts(plan)).filter((n) => !names.includes(n));
  if (other.length > 0)
    throw new LabError(
      LabErrorCode.Busy,
      `the link of ${other.join(", ")} is cut already; heal it first (the lab cuts one host pair at a time)`,
    );
  for (const h of pair) await bridgeCmd("-n", plan.switchNs, "link", "set", "dev", h.port, "isolated", "on");
}

export async function healLink(plan: NetnsPlan, a: string, b: string): Promise<void> {
  for (const h of pairOf(plan, a, b)) await bridgeCmd("-n", plan.switchNs, "link", "set", "dev", h.port, "isolated", "off");
}
