import { XMLParser } from "fast-xml-parser";
import { Uuid } from "@drover/protocol";
import type { HvConnection } from "./hypervisor.js";
import { withTimeout } from "./libvirt-link.js";

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/**
 * The host UUID in libvirt's capabilities XML (`<capabilities><host><uuid>`), lowercased: what
 * libvirtd says it is (its `host_uuid`, else SMBIOS or machine-id). Null when absent or not a UUID.
 */
export function hostUuidOf(capabilitiesXml: string): string | null {
  let doc: { capabilities?: { host?: { uuid?: unknown } } };
  try {
    doc = parser.parse(capabilitiesXml) as typeof doc;
  } catch {
    return null;
  }
  const parsed = Uuid.safeParse(doc.capabilities?.host?.uuid);
  return parsed.success ? parsed.data : null;
}

/** The host UUID of the libvirtd behind `conn`; rejects when libvirtd does not answer in time. */
export async function readHostUuid(conn: HvConnection, timeoutMs: number): Promise<string | null> {
  return hostUuidOf(await withTimeout(conn.capabilities(), timeoutMs, "virConnectGetCapabilities"));
}
