import { connect } from "node:net";
import { isLabAddress } from "@drover/wol";
import { mountHolding, olderHypervisor, type DestinationFacts, type PreflightCheck, type StorageMount } from "@drover/protocol";
import { destinationName } from "./destinations.js";
import { describeDomain, type DomainDescription } from "./domain-xml.js";
import type { HvDomain, Hypervisor } from "./hypervisor.js";
import { cpuDifference, type LibvirtdFacts } from "./hypervisor-facts.js";
import { withTimeout } from "./libvirt-link.js";
import { migrationTlsReport, migrationTlsVerdict } from "./migration-tls.js";
import type { PeerLibvirtd } from "./peer-connections.js";
import { copiedDisks, type Mount, type StorageClassifier } from "./storage.js";

type CheckName = PreflightCheck["check"];

export interface PreflightInput {
  vm: HvDomain;
  /** As the command names it: `cluster` absent is this host's own. */
  destination: { host: string; uri: string; cluster?: string | undefined };
  copyStorage: boolean;
  /** The host UUID the destination's own report gives; the libvirtd at its URI must have it. Null: not reported (old agent). */
  reportedHostUuid: string | null;
  /** The cluster lets guests move to an older libvirt or QEMU (the scheduler's `migration.allowOlderHypervisor`). */
  allowOlderHypervisor: boolean;
}

export interface PreflightDeps {
  hv: Hypervisor;
  /** This host's name (reasons name the host that is not ready). */
  host: string;
  /** The cert dir this host migrates with (config migration.tlsCertDir), null when TLS is off. */
  migrationTlsDir: string | null;
  classifier: StorageClassifier;
  mounts: readonly Mount[];
  /**
   * The destination's latest report (the scheduler's copy or this agent's) from its cluster (undefined:
   * this host's own), or null when none arrived in time.
   */
  peerReport: (host: string, cluster: string | undefined) => Promise<DestinationFacts | null>;
  /** The destination's libvirtd, over a connection kept open between preflights. */
  peerLibvirtd: (uri: string) => Promise<PeerLibvirtd>;
  /** What this host's own libvirtd says of itself; null while it is unreachable. */
  local: () => Promise<LibvirtdFacts | null>;
  labSafeNetwork: boolean;
  callTimeoutMs: number;
  portProbeTimeoutMs: number;
}

const MiB = 1024 * 1024;
const fmtMiB = (b: number) => `${Math.round(b / MiB)} MiB`;

/** Share of a destination filesystem a copy-storage move leaves free: its other guests' images grow too. */
export const SPACE_RESERVE = 0.05;

/**
 * The disks a copy-storage move copies (each created at the same path on the destination, as big as
 * what it holds here) against the space the destination's report gives for the filesystem each lands
 * on, summed per filesystem, keeping `SPACE_RESERVE` of it free: a full filesystem would pause every
 * guest there whose image must grow, not only fail this move. Unknown space fails the check.
 */
export function destinationSpace(
  copies: readonly { target: string; path: string; bytes: number }[],
  storage: readonly StorageMount[],
  toName: string,
): { ok: boolean; reason: string } {
  const need = new Map<StorageMount, { bytes: number; targets: string[] }>();
  const unknown: string[] = [];
  const local = storage.filter((s) => !s.shared);
  for (const c of copies) {
    const m = mountHolding(c.path, local);
    if (m?.freeBytes === undefined) {
      unknown.push(`disk ${c.target} (${c.path})`);
      continue;
    }
    const n = need.get(m) ?? { bytes: 0, targets: [] };
    n.bytes += c.bytes;
    n.targets.push(c.target);
    need.set(m, n);
  }
  if (unknown.length > 0)
    return {
      ok: false,
      reason: `${toName} reports no free space where ${unknown.join(", ")} would go (no local mount holds it, or an agent older than this check)`,
    };
  const lines = [...need].map(([m, n]) => {
    const reserve = Math.round((m.sizeBytes ?? 0) * SPACE_RESERVE);
    const free = m.freeBytes!;
    return {
      ok: n.bytes <= free - reserve,
      text: `${n.targets.join(", ")} need ${fmtMiB(n.bytes)} on ${toName}'s ${m.path}: ${fmtMiB(free)} free, ${fmtMiB(reserve)} of it kept`,
    };
  });
  const short = lines.filter((l) => !l.ok);
  return { ok: short.length === 0, reason: (short.length > 0 ? short : lines).map((l) => l.text).join("; ") };
}

/** Host part of a libvirt URI such as qemu+tcp://127.0.1.2/system (null for local URIs). */
export function uriHost(uri: string): string | null {
  try {
    const u = new URL(uri);
    return u.hostname ? u.hostname.replace(/^\[|\]$/g, "") : null;
  } catch {
    return null;
  }
}

/**
 * TCP connect to a port that should have a listener: only an accepted connection passes. Refused
 * (nothing listens, or a firewall rejects) and no answer (filtered) both fail, each named.
 */
export function probePort(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const finish = (ok: boolean, detail: string) => {
      s.destroy();
      resolve({ ok, detail });
    };
    s.setTimeout(timeoutMs, () => finish(false, `no answer within ${timeoutMs} ms (filtered?)`));
    s.once("connect", () => finish(true, "a listener accepted"));
    s.once("error", (e: NodeJS.ErrnoException) =>
      finish(false, e.code === "ECONNREFUSED" ? "refused: nothing listens there (or a firewall rejects it)" : (e.code ?? e.message)),
    );
  });
}

/** The copied disks' sizes here (what each holds, else its capacity) against the destination's space. */
async function checkDestinationSpace(
  input: PreflightInput,
  deps: PreflightDeps,
  disks: DomainDescription["disks"],
  peer: DestinationFacts | null,
  toName: string,
  add: (check: CheckName, ok: boolean, reason: string) => void,
): Promise<void> {
  // Without the destination's report every disk not on a network counts (none is known shared there).
  const copied = copiedDisks(disks, deps.classifier, deps.mounts, peer?.storage ?? []);
  if (copied.length === 0) return add("destination-space", true, "no disk to copy");
  if (!peer) return add("destination-space", false, `no report from ${toName}'s agent arrived, so its free space cannot be verified`);
  let sizes;
  try {
    sizes = await withTimeout(input.vm.diskSizes(), deps.callTimeoutMs, "disk sizes");
  } catch (e) {
    return add("destination-space", false, `the disks' sizes are unreadable here: ${(e as Error).message}`);
  }
  const copies: { target: string; path: string; bytes: number }[] = [];
  const unsized: string[] = [];
  for (const d of copied) {
    const s = sizes.find((x) => x.target === d.target);
    const bytes = s?.allocationBytes ?? s?.capacityBytes ?? null;
    if (bytes === null) unsized.push(d.target);
    else copies.push({ target: d.target, path: d.path as string, bytes });
  }
  if (unsized.length > 0) return add("destination-space", false, `libvirt gives no size for disk(s) ${unsized.join(", ")}`);
  const v = destinationSpace(copies, peer.storage, toName);
  add("destination-space", v.ok, v.reason);
}

/**
 * Every seed requirement of a live migration, each with a pass/fail and the reason. Checks that
 * need the destination run against its libvirtd (reachability, CPU, memory) and its agent's latest
 * report (bridges, storage mounts), which is the only place that knows them.
 */
export async function runPreflight(input: PreflightInput, deps: PreflightDeps): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  const add = (check: CheckName, ok: boolean, reason: string) => checks.push({ check, ok, reason });
  add("vm-present", true, `${input.vm.name} (${input.vm.uuid}) is defined on this host`);

  let desc: DomainDescription;
  try {
    desc = describeDomain(await input.vm.xml(true));
  } catch (e) {
    add("cache-mode", false, `cannot read the domain XML: ${(e as Error).message}`);
    return checks;
  }
  const disks = desc.disks.filter((d) => d.path !== null && !(d.readOnly && d.device === "cdrom"));

  const badCache = disks.filter((d) => d.cacheMode !== "none" && !d.readOnly);
  add(
    "cache-mode",
    badCache.length === 0,
    badCache.length === 0
      ? disks.length
        ? `all ${disks.length} writable disk(s) use cache=none`
        : "no disks"
      : badCache.map((d) => `disk ${d.target} (${d.path}) uses cache=${d.cacheMode}; live migration needs cache=none`).join("; "),
  );

  const to = input.destination;
  const toName = destinationName(to);
  // Always needed: the destination's TLS setting is only in its report.
  const peer = await deps.peerReport(to.host, to.cluster);
  const peerMissing = `no report from ${toName}'s agent arrived, so its side cannot be verified`;

  // Shared storage: the same shared filesystem must hold each disk at the same path on both ends.
  if (disks.length === 0) add("shared-storage", true, "no disks");
  else if (input.copyStorage) {
    add("shared-storage", true, `copy-storage move: ${disks.length} disk(s) will be copied to ${toName}`);
    await checkDestinationSpace(input, deps, disks, peer, toName, add);
  } else {
    const problems: string[] = [];
    for (const d of disks) {
      if (d.network) continue;
      const p = d.path as string;
      if (!deps.classifier.isShared(p, deps.mounts)) {
        const m = mountHolding(p, deps.mounts);
        problems.push(`disk ${d.target} (${p}) is on local storage here (${m?.fsType ?? "?"} at ${m?.path ?? "?"}); use copy-storage`);
        continue;
      }
      if (!peer) {
        problems.push(`disk ${d.target} (${p}): ${peerMissing}`);
        continue;
      }
      const there = peer.storage.filter((s) => s.shared && (p === s.path || p.startsWith(s.path.endsWith("/") ? s.path : `${s.path}/`)));
      if (there.length === 0) problems.push(`disk ${d.target} (${p}) is not under a shared mount on ${toName}`);
    }
    add(
      "shared-storage",
      problems.length === 0,
      problems.length ? problems.join("; ") : `all ${disks.length} disk(s) are on shared storage at the same path on both hosts`,
    );
  }

  let dest: PeerLibvirtd | null = null;
  try {
    const t0 = performance.now();
    dest = await deps.peerLibvirtd(to.uri);
    const { libvirt } = dest.facts.hypervisor;
    const answered =
      dest.openedInMs > 0
        ? `${to.uri} answered (libvirt ${libvirt}) in ${dest.openedInMs.toFixed(1)} ms`
        : `${to.uri} answers (libvirt ${libvirt}, connection kept open; ${(performance.now() - t0).toFixed(1)} ms)`;
    const expected = input.reportedHostUuid;
    const uuid = dest.facts.hostUuid;
    if (expected !== null && uuid !== expected) {
      // Another libvirtd serves the URI the destination reported: nothing else is measured on it.
      add(
        "destination-reachable",
        false,
        `${answered}, but its libvirtd has host UUID ${uuid ?? "(none)"}, not ${expected} as ${toName} reports: ` +
          `the URI is served by another libvirtd`,
      );
      dest = null;
    } else add("destination-reachable", true, expected === null ? answered : `${answered}, host UUID ${uuid} as ${toName} reports`);
  } catch (e) {
    add("destination-reachable", false, `${to.uri} is not reachable: ${(e as Error).message}`);
  }

  const host = uriHost(to.uri);
  const ports = peer?.migrationPorts;
  if (!host) add("migration-ports", false, `cannot tell the destination address from ${to.uri}`);
  else if (deps.labSafeNetwork && !isLabAddress(host))
    add("migration-ports", false, `${host} is not a lab address and labSafeNetwork is set; not probed`);
  else if (!peer) add("migration-ports", false, `${peerMissing}, nor its migration port range`);
  else if (!ports) add("migration-ports", false, `${toName} does not report its migration port range (an agent older than this check)`);
  else {
    const r = await probePort(host, ports.listener, deps.portProbeTimeoutMs);
    add("migration-ports", r.ok, `${host}:${ports.listener} (of ${toName}'s migration range ${ports.min}-${ports.max}): ${r.detail}`);
  }

  const tls = migrationTlsVerdict({ host: deps.host, tls: await migrationTlsReport(deps.migrationTlsDir) }, { host: toName, report: peer });
  add("migration-tls", tls.ok, tls.reason);

  if (desc.bridges.length === 0) add("bridges", true, "the VM has no bridged interfaces");
  else if (!peer) add("bridges", false, `VM needs bridge(s) ${desc.bridges.join(", ")}; ${peerMissing}`);
  else {
    const missing = desc.bridges.filter((b) => !peer.bridges.includes(b));
    add(
      "bridges",
      missing.length === 0,
      missing.length
        ? `bridge(s) ${missing.join(", ")} missing on ${toName} (it has: ${peer.bridges.join(", ") || "none"})`
        : `${desc.bridges.join(", ")} present on ${toName}`,
    );
  }

  if (!dest) {
    const why = "destination not reachable or not the reported host";
    add("hypervisor-version", false, `${why}; not compared`);
    add("cpu-compatible", false, `${why}; not compared`);
    add("free-memory", false, `${why}; not measured`);
    return checks;
  }
  const here = await deps.local().catch(() => null);
  add(...versionCheck(deps.host, here, toName, dest.facts, input.allowOlderHypervisor));
  add(...(await cpuCheck(desc, deps.host, here, toName, dest, deps.callTimeoutMs)));
  try {
    const free = await withTimeout(dest.conn.freeMemoryBytes(), deps.callTimeoutMs, "freeMemory");
    const need = desc.memoryKiB * 1024;
    add("free-memory", free >= need, `${toName} has ${fmtMiB(free)} free, the VM needs ${fmtMiB(need)}`);
  } catch (e) {
    add("free-memory", false, `free memory not measured: ${(e as Error).message}`);
  }
  return checks;
}

type Verdict = [CheckName, boolean, string];

/** Versions as both libvirtds give them (virConnectGetLibVersion, virConnectGetVersion), by protocol's one rule. */
export function versionCheck(
  source: string,
  here: LibvirtdFacts | null,
  destination: string,
  there: LibvirtdFacts,
  allowOlder: boolean,
): Verdict {
  if (!here) return ["hypervisor-version", false, `${source}'s own libvirtd is not reachable; versions not compared`];
  const v = (f: LibvirtdFacts) => `libvirt ${f.hypervisor.libvirt}, QEMU ${f.hypervisor.qemu}`;
  const older = olderHypervisor({ host: source, versions: here.hypervisor }, { host: destination, versions: there.hypervisor });
  if (!older) return ["hypervisor-version", true, `${destination} runs ${v(there)}, not older than ${source}'s ${v(here)}`];
  if (allowOlder) return ["hypervisor-version", true, `${older}; allowed by the cluster (migration.allowOlderHypervisor)`];
  return ["hypervisor-version", false, `${older}; a guest moves only to the same or a newer libvirt and QEMU`];
}

const CPU_RESULT: Record<number, string> = { 0: "incompatible", 1: "identical", 2: "a superset" };

/**
 * A host-passthrough guest sees the host CPU as it is, so only an identical one will do; any other
 * CPU definition is asked of the destination's hypervisor for the guest's domain type (KVM, or TCG
 * whose emulated CPU lacks features too), so a model or feature it cannot give fails.
 */
async function cpuCheck(
  desc: DomainDescription,
  source: string,
  here: LibvirtdFacts | null,
  destination: string,
  dest: PeerLibvirtd,
  timeoutMs: number,
): Promise<Verdict> {
  if (desc.cpuMode === "host-passthrough") {
    if (!here) return ["cpu-compatible", false, `host-passthrough guest: ${source}'s own libvirtd is not reachable, CPUs not compared`];
    const cpu = (f: LibvirtdFacts) => f.hypervisor.cpu;
    const diff = cpuDifference({ host: source, cpu: cpu(here) }, { host: destination, cpu: cpu(dest.facts) });
    return diff
      ? ["cpu-compatible", false, `host-passthrough guest needs an identical host CPU: ${diff}`]
      : [
          "cpu-compatible",
          true,
          `host-passthrough guest: ${destination}'s CPU is identical (${cpu(here).model}, ${cpu(here).features.length} features)`,
        ];
  }
  if (!desc.cpuXml)
    return ["cpu-compatible", true, "the VM defines no guest CPU model (hypervisor default); nothing host-specific to compare"];
  const what = desc.type === "qemu" ? "TCG" : desc.type.toUpperCase();
  try {
    const r = await withTimeout(dest.conn.compareHypervisorCpu(desc.cpuXml, desc.type), timeoutMs, "compareHypervisorCpu");
    const ok = r === 1 || r === 2;
    return [
      "cpu-compatible",
      ok,
      ok
        ? `${destination}'s ${what} CPU is ${CPU_RESULT[r]} of the VM's CPU definition`
        : `${destination}'s ${what} CPU is ${CPU_RESULT[r] ?? `result ${r}`} with the VM's CPU definition (${cpuSummary(desc.cpuXml)})`,
    ];
  } catch (e) {
    return ["cpu-compatible", false, `CPU comparison failed: ${(e as Error).message}`];
  }
}

/** The model and required features of a <cpu> element, for a reason a person reads. */
function cpuSummary(xml: string): string {
  const model = /<model[^>]*>([^<]+)<\/model>/.exec(xml)?.[1] ?? "no model";
  const features = [
    ...xml.matchAll(
      /<feature[^>]*policy=["'](?:require|force)["'][^>]*name=["']([^"']+)["']|<feature[^>]*name=["']([^"']+)["'][^>]*policy=["'](?:require|force)["']/g,
    ),
  ].map((m) => m[1] ?? m[2]);
  return `model ${model}${features.length ? `, requiring ${features.join(", ")}` : ""}`;
}
