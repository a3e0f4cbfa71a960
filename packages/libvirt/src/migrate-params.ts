// MigrateParams -> the VIR_MIGRATE_PARAM_* typed parameters of virDomainMigrateToURI3. Pure, and
// strict: a wrong type or range is refused here with the field's name, before libvirt sees it.
import { LibvirtArgumentError } from "./errors.js";
import type { TypedEntry } from "./native/typed-params.js";

export interface MigrateParams {
  /** VIR_MIGRATE_PARAM_URI "migrate_uri": where QEMU sends the stream, e.g. "tcp://127.0.1.2". */
  uri?: string;
  /** "destination_name" */
  destName?: string;
  /** "destination_xml" */
  destXml?: string;
  /** "persistent_xml" */
  persistXml?: string;
  /** "bandwidth", MiB/s (0 = hypervisor default) */
  bandwidthMiBs?: number;
  /** "bandwidth.postcopy", MiB/s */
  bandwidthPostcopyMiBs?: number;
  /** "graphics_uri" */
  graphicsUri?: string;
  /** "listen_address" */
  listenAddress?: string;
  /** "migrate_disks" (repeated): target names such as "vda" */
  migrateDisks?: string[];
  /** "disks_port" */
  disksPort?: number;
  /** "disks_uri" */
  disksUri?: string;
  /** "compression" (repeated): "xbzrle", "mt", "zlib", "zstd" */
  compression?: string[];
  /** "compression.mt.level" */
  compressionMtLevel?: number;
  /** "compression.mt.threads" */
  compressionMtThreads?: number;
  /** "compression.mt.dthreads" */
  compressionMtDthreads?: number;
  /** "compression.xbzrle.cache", bytes */
  compressionXbzrleCacheBytes?: number;
  /** "auto_converge.initial", percent */
  autoConvergeInitial?: number;
  /** "auto_converge.increment", percent */
  autoConvergeIncrement?: number;
  /** "parallel.connections" (needs MigrateFlags.PARALLEL) */
  parallelConnections?: number;
  /** "tls.destination" */
  tlsDestination?: string;
}

type Kind = "string" | "strings" | "int" | "ullong";
const SPEC: Record<keyof MigrateParams, readonly [name: string, kind: Kind, min?: number, max?: number]> = {
  uri: ["migrate_uri", "string"],
  destName: ["destination_name", "string"],
  destXml: ["destination_xml", "string"],
  persistXml: ["persistent_xml", "string"],
  bandwidthMiBs: ["bandwidth", "ullong"],
  bandwidthPostcopyMiBs: ["bandwidth.postcopy", "ullong"],
  graphicsUri: ["graphics_uri", "string"],
  listenAddress: ["listen_address", "string"],
  migrateDisks: ["migrate_disks", "strings"],
  disksPort: ["disks_port", "int", 0, 65535],
  disksUri: ["disks_uri", "string"],
  compression: ["compression", "strings"],
  compressionMtLevel: ["compression.mt.level", "int", 0, 9],
  compressionMtThreads: ["compression.mt.threads", "int", 1, 255],
  compressionMtDthreads: ["compression.mt.dthreads", "int", 1, 255],
  compressionXbzrleCacheBytes: ["compression.xbzrle.cache", "ullong"],
  autoConvergeInitial: ["auto_converge.initial", "int", 0, 100],
  autoConvergeIncrement: ["auto_converge.increment", "int", 0, 100],
  parallelConnections: ["parallel.connections", "int", 1, 255],
  tlsDestination: ["tls.destination", "string"],
};

const INT32_MAX = 2 ** 31 - 1;

export function migrateParamsToTyped(params: MigrateParams): TypedEntry[] {
  if (typeof params !== "object" || params === null) throw new LibvirtArgumentError("migrate params must be an object");
  const out: TypedEntry[] = [];
  for (const [key, value] of Object.entries(params) as [keyof MigrateParams, unknown][]) {
    if (value === undefined) continue;
    const spec = SPEC[key];
    if (spec === undefined) throw new LibvirtArgumentError(`migrate params: unknown field "${key}"`);
    const [name, kind, min = 0, max = kind === "int" ? INT32_MAX : Number.MAX_SAFE_INTEGER] = spec;
    const bad = (what: string): never => {
      throw new LibvirtArgumentError(`migrate params: ${key} must be ${what} (got ${JSON.stringify(value)})`);
    };
    switch (kind) {
      case "string":
        if (typeof value !== "string" || value.length === 0) bad("a non-empty string");
        out.push({ name, type: "string", value: value as string });
        break;
      case "strings":
        if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v.length === 0)) bad("an array of non-empty strings");
        for (const v of value as string[]) out.push({ name, type: "string", value: v });
        break;
      case "int":
      case "ullong":
        if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) bad(`an integer in [${min}, ${max}]`);
        out.push({ name, type: kind, value: value as number });
        break;
    }
  }
  return out;
}
