import { XMLParser } from "fast-xml-parser";
import { Uuid } from "@drover/protocol";

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
