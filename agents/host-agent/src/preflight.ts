import { connect } from "node:net";
import { isLabAddress } from "@drover/wol";
import type { HostReport, PreflightCheck } from "@drover/protocol";
import { describeDomain, type DomainDescription } from "./domain-xml.js";
import { readHostUuid } from "./host-uuid.js";
import type { HvConnection, HvDomain, Hypervisor } from "./hypervisor.js";
import { withTimeout } from "./libvirt-link.js";
import { migrationTlsReport, migrationTlsVerdict } from "./migration-tls.js";
import type { Mount, StorageClassifier } from "./storage.js";

type CheckName = PreflightCheck["check"];

export interface PreflightInput {
  vm: HvDomain;
  destination: { host: string; uri: string };
  copyStorage: boolean;
  /** The host UUID the destination's own report gives; the libvirtd at its URI must have it. Null: not reported (old agent). */
  reportedHostUuid: string | null;
}

export interface PreflightDeps {
  hv: Hypervisor;
  /** This host's name (reasons name the host that is not ready). */
  host: string;
  /** The cert dir this host migrates with (config migration.tlsCertDir), null when TLS is off. */
  migrationTlsDir: string | null;
  classifier: StorageClassifier;
  mounts: readonly Mount[];
  /** The destination agent's latest report, or null when none arrived in time. */
  peerReport: (host: string) => Promise<HostReport | null>;
  labSafeNetwork: boolean;
  portRange: (host: string) => { min: number; max: number };
  callTimeoutMs: number;
  portProbeTimeoutMs: number;
}

const MiB = 1024 * 1024;
const fmtMiB = (b: number) => `${Math.round(b / MiB)} MiB`;

/** Host part of a libvirt URI such as qemu+tcp://127.0.1.2/system (null for local URIs). */
export function uriHost(uri: string): string | null {
  try {
    const u = new URL(uri);
    return u.hostname ? u.hostname.replace(/^\[|\]$/g, "") : null;
  } catch {
    return null;
  }
}

/** TCP connect: open or refused (RST) both prove the path is not filtered; timeouts do not. */
export function probePort(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const finish = (ok: boolean, detail: string) => {
      s.destroy();
      resolve({ ok, detail });
    };
    s.setTimeout(timeoutMs, () => finish(false, `no answer within ${timeoutMs} ms (filtered?)`));
    s.once("connect", () => finish(true, "open"));
    s.once("error", (e: NodeJS.ErrnoException) =>
      e.code === "ECONNREFUSED" ? finish(true, "reachable (refused: no migration listening yet)") : finish(false, e.code ?? e.message),
    );
  });
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

  const dest = input.destination;
  // Always needed: the destination's TLS setting is only in its report.
  const peer = await deps.peerReport(dest.host);
  const peerMissing = `no report from ${dest.host}'s agent arrived, so its side cannot be verified`;

  // Shared storage: the same shared filesystem must hold each disk at the same path on both ends.
  if (disks.length === 0) add("shared-storage", true, "no disks");
  else if (input.copyStorage) add("shared-storage", true, `copy-storage move: ${disks.length} disk(s) will be copied to ${dest.host}`);
  else {
    const problems: string[] = [];
    for (const d of disks) {
      if (d.network) continue;
      const p = d.path as string;
      if (!deps.classifier.isShared(p, deps.mounts)) {
        const m = deps.classifier.mountOf(p, deps.mounts);
        problems.push(`disk ${d.target} (${p}) is on local storage here (${m?.fsType ?? "?"} at ${m?.path ?? "?"}); use copy-storage`);
        continue;
      }
      if (!peer) {
        problems.push(`disk ${d.target} (${p}): ${peerMissing}`);
        continue;
      }
      const there = peer.storage.filter((s) => s.shared && (p === s.path || p.startsWith(s.path.endsWith("/") ? s.path : `${s.path}/`)));
      if (there.length === 0) problems.push(`disk ${d.target} (${p}) is not under a shared mount on ${dest.host}`);
    }
    add(
      "shared-storage",
      problems.length === 0,
      problems.length ? problems.join("; ") : `all ${disks.length} disk(s) are on shared storage at the same path on both hosts`,
    );
  }

  let dconn: HvConnection | null = null;
  try {
    const t0 = performance.now();
    dconn = await withTimeout(deps.hv.open(dest.uri), deps.callTimeoutMs, `open ${dest.uri}`);
    const version = await withTimeout(dconn.version(), deps.callTimeoutMs, "version");
    const answered = `${dest.uri} answered (libvirt ${version}) in ${(performance.now() - t0).toFixed(1)} ms`;
    const expected = input.reportedHostUuid;
    const uuid = expected === null ? null : await readHostUuid(dconn, deps.callTimeoutMs);
    if (expected !== null && uuid !== expected) {
      // Another libvirtd serves the URI the destination reported: nothing else is measured on it.
      add(
        "destination-reachable",
        false,
        `${answered}, but its libvirtd has host UUID ${uuid ?? "(none)"}, not ${expected} as ${dest.host} reports: ` +
          `the URI is served by another libvirtd`,
      );
      await dconn.close().catch(() => undefined);
      dconn = null;
    } else add("destination-reachable", true, expected === null ? answered : `${answered}, host UUID ${uuid} as ${dest.host} reports`);
  } catch (e) {
    add("destination-reachable", false, `${dest.uri} is not reachable: ${(e as Error).message}`);
  }

  const host = uriHost(dest.uri);
  if (!host) add("migration-ports", false, `cannot tell the destination address from ${dest.uri}`);
  else if (deps.labSafeNetwork && !isLabAddress(host))
    add("migration-ports", false, `${host} is not a lab address and labSafeNetwork is set; not probed`);
  else {
    const range = deps.portRange(dest.host);
    const r = await probePort(host, range.min, deps.portProbeTimeoutMs);
    add("migration-ports", r.ok, `${host}:${range.min} (range ${range.min}-${range.max}): ${r.detail}`);
  }

  const tls = migrationTlsVerdict(
    { host: deps.host, tls: await migrationTlsReport(deps.migrationTlsDir) },
    { host: dest.host, report: peer },
  );
  add("migration-tls", tls.ok, tls.reason);

  if (desc.bridges.length === 0) add("bridges", true, "the VM has no bridged interfaces");
  else if (!peer) add("bridges", false, `VM needs bridge(s) ${desc.bridges.join(", ")}; ${peerMissing}`);
  else {
    const missing = desc.bridges.filter((b) => !peer.bridges.includes(b));
    add(
      "bridges",
      missing.length === 0,
      missing.length
        ? `bridge(s) ${missing.join(", ")} missing on ${dest.host} (it has: ${peer.bridges.join(", ") || "none"})`
        : `${desc.bridges.join(", ")} present on ${dest.host}`,
    );
  }

  if (!dconn) {
    add("cpu-compatible", false, "destination not reachable or not the reported host; not compared");
    add("free-memory", false, "destination not reachable or not the reported host; not measured");
    return checks;
  }
  try {
    if (desc.type === "qemu")
      add("cpu-compatible", true, "TCG guest (domain type qemu): its CPU is emulated, so no host CPU feature is required");
    else if (!desc.cpuXml)
      add("cpu-compatible", true, "the VM defines no guest CPU model (hypervisor default); nothing host-specific to compare");
    else {
      const r = await withTimeout(dconn.compareCpu(desc.cpuXml), deps.callTimeoutMs, "compareCpu");
      const names: Record<number, string> = { 0: "incompatible", 1: "identical", 2: "superset" };
      add("cpu-compatible", r === 1 || r === 2, `destination host CPU is ${names[r] ?? `result ${r}`} to the VM's CPU`);
    }
  } catch (e) {
    add("cpu-compatible", false, `CPU comparison failed: ${(e as Error).message}`);
  }
  try {
    const free = await withTimeout(dconn.freeMemoryBytes(), deps.callTimeoutMs, "freeMemory");
    const need = desc.memoryKiB * 1024;
    add("free-memory", free >= need, `${dest.host} has ${fmtMiB(free)} free, the VM needs ${fmtMiB(need)}`);
  } catch (e) {
    add("free-memory", false, `free memory not measured: ${(e as Error).message}`);
  } finally {
    await dconn.close().catch(() => undefined);
  }
  return checks;
}
