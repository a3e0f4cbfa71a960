import { XMLParser } from "fast-xml-parser";
import type { HypervisorFacts } from "@drover/protocol";
import { hostUuidOf } from "./host-uuid.js";
import type { HvConnection } from "./hypervisor.js";
import { withTimeout } from "./libvirt-link.js";

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "", parseTagValue: false, processEntities: false });
const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** The host CPU of libvirt's capabilities XML (`<host><cpu>`), features sorted; empty strings when absent. */
export function hostCpuOf(capabilitiesXml: string): HypervisorFacts["cpu"] {
  let cpu: Record<string, unknown> = {};
  try {
    const doc = parser.parse(capabilitiesXml) as { capabilities?: { host?: { cpu?: Record<string, unknown> } } };
    cpu = doc.capabilities?.host?.cpu ?? {};
  } catch {
    // Unreadable: reported as an unknown CPU, which equals no other host's.
  }
  const model = cpu["model"];
  return {
    arch: str(cpu["arch"]),
    model: typeof model === "object" && model !== null ? str((model as Record<string, unknown>)["#text"]) : str(model),
    vendor: str(cpu["vendor"]),
    features: list(cpu["feature"])
      .map((f) => str((f as Record<string, unknown>)["name"]))
      .filter((n) => n !== "")
      .sort(),
  };
}

/** What one libvirtd says of itself: its host UUID, versions and host CPU (two calls). */
export interface LibvirtdFacts {
  hostUuid: string | null;
  hypervisor: HypervisorFacts;
}

export async function readLibvirtdFacts(conn: HvConnection, timeoutMs: number): Promise<LibvirtdFacts> {
  const [caps, versions] = await Promise.all([
    withTimeout(conn.capabilities(), timeoutMs, "virConnectGetCapabilities"),
    withTimeout(conn.versions(), timeoutMs, "virConnectGetVersion"),
  ]);
  return { hostUuid: hostUuidOf(caps), hypervisor: { ...versions, cpu: hostCpuOf(caps) } };
}

/** Why two host CPUs are not identical (a host-passthrough guest sees the host's CPU as it is), or null. */
export function cpuDifference(
  a: { host: string; cpu: HypervisorFacts["cpu"] },
  b: { host: string; cpu: HypervisorFacts["cpu"] },
): string | null {
  const why: string[] = [];
  for (const k of ["arch", "vendor", "model"] as const) {
    if (a.cpu[k] !== b.cpu[k]) why.push(`${k} ${a.cpu[k] || "?"} on ${a.host}, ${b.cpu[k] || "?"} on ${b.host}`);
  }
  const inB = new Set(b.cpu.features);
  const inA = new Set(a.cpu.features);
  const onlyA = a.cpu.features.filter((f) => !inB.has(f));
  const onlyB = b.cpu.features.filter((f) => !inA.has(f));
  if (onlyA.length) why.push(`feature(s) ${onlyA.join(", ")} only on ${a.host}`);
  if (onlyB.length) why.push(`feature(s) ${onlyB.join(", ")} only on ${b.host}`);
  return why.length ? why.join("; ") : null;
}
