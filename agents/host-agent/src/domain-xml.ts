import { child, children, localName, parseXml, path, toXml, type XmlElement } from "./xml.js";

/** Namespace of Drover's domain metadata (see README "Rule tags"). */
export const DROVER_NS = "https://drover.dev/ns/1";

export const CACHE_MODES = ["none", "writethrough", "writeback", "directsync", "unsafe", "default"] as const;
export type CacheModeName = (typeof CACHE_MODES)[number];

export interface DomainDisk {
  target: string;
  /** File or block device path; for network disks `protocol:name`; null for an empty drive. */
  path: string | null;
  /** True for file/block sources that live in the host filesystem. */
  local: boolean;
  network: boolean;
  cacheMode: CacheModeName;
  readOnly: boolean;
  device: string;
}

export interface DomainNic {
  type: string;
  /** Bridge name for type=bridge; network name for type=network. */
  source: string | null;
  mac: string | null;
}

export interface DomainDescription {
  name: string;
  uuid: string;
  memoryKiB: number;
  vcpus: number;
  disks: DomainDisk[];
  nics: DomainNic[];
  /** Bridges the VM needs on a destination (type=bridge sources). */
  bridges: string[];
  /** Networks the VM needs (type=network sources). */
  networks: string[];
  tags: string[];
  /** <domain type=...>: "kvm", or "qemu" for TCG (emulated CPU, no host CPU dependency). */
  type: string;
  /** The <cpu> element as XML (for compareCpu), or null when the domain has none. */
  cpuXml: string | null;
}

function kib(el: XmlElement | undefined): number {
  if (!el) return 0;
  const n = Number(el.text.trim());
  const unit = (el.attrs["unit"] ?? "KiB").toLowerCase();
  const factor: Record<string, number> = {
    b: 1 / 1024,
    bytes: 1 / 1024,
    k: 1,
    kib: 1,
    kb: 1000 / 1024,
    m: 1024,
    mib: 1024,
    mb: 1e6 / 1024,
    g: 1024 ** 2,
    gib: 1024 ** 2,
    gb: 1e9 / 1024,
    t: 1024 ** 3,
    tib: 1024 ** 3,
  };
  return Number.isFinite(n) ? n * (factor[unit] ?? 1) : 0;
}

function diskOf(d: XmlElement): DomainDisk | null {
  const device = d.attrs["device"] ?? "disk";
  const type = d.attrs["type"] ?? "file";
  const src = child(d, "source");
  const target = child(d, "target")?.attrs["dev"] ?? "";
  const rawCache = child(d, "driver")?.attrs["cache"] ?? "default";
  const cacheMode = (CACHE_MODES as readonly string[]).includes(rawCache) ? (rawCache as CacheModeName) : "default";
  let p: string | null = null;
  if (src) {
    if (type === "file") p = src.attrs["file"] ?? null;
    else if (type === "block") p = src.attrs["dev"] ?? null;
    else if (type === "dir") p = src.attrs["dir"] ?? null;
    else if (type === "network") p = `${src.attrs["protocol"] ?? "network"}:${src.attrs["name"] ?? ""}`;
    else if (type === "volume") p = `${src.attrs["pool"] ?? ""}/${src.attrs["volume"] ?? ""}`;
  }
  return {
    target,
    path: p,
    local: p !== null && (type === "file" || type === "block" || type === "dir"),
    network: type === "network",
    cacheMode,
    readOnly: child(d, "readonly") !== undefined || device === "cdrom",
    device,
  };
}

/** Tags from `<metadata><drover:tags xmlns:drover="https://drover.dev/ns/1">a,b</drover:tags>`. */
export function tagsOf(metadata: XmlElement | undefined): string[] {
  if (!metadata) return [];
  const out: string[] = [];
  for (const el of metadata.children) {
    const prefix = el.name.includes(":") ? el.name.slice(0, el.name.indexOf(":")) : null;
    const ns = prefix ? el.attrs[`xmlns:${prefix}`] : el.attrs["xmlns"];
    if (ns !== DROVER_NS) continue;
    const tagEls = localName(el.name) === "tags" ? [el] : el.children.filter((c) => localName(c.name) === "tags");
    for (const t of tagEls) {
      const items = t.children.filter((c) => localName(c.name) === "tag");
      const words = items.length ? items.map((c) => c.text) : t.text.split(/[,\s]+/);
      for (const w of words.map((s) => s.trim()).filter(Boolean)) if (!out.includes(w)) out.push(w);
    }
  }
  return out;
}

export function describeDomain(xml: string): DomainDescription {
  const dom = parseXml(xml);
  const devices = child(dom, "devices");
  const disks = children(devices, "disk")
    .map(diskOf)
    .filter((d): d is DomainDisk => d !== null);
  const nics: DomainNic[] = children(devices, "interface").map((i) => {
    const type = i.attrs["type"] ?? "";
    const src = child(i, "source");
    const source = type === "bridge" ? (src?.attrs["bridge"] ?? null) : type === "network" ? (src?.attrs["network"] ?? null) : null;
    return { type, source, mac: child(i, "mac")?.attrs["address"] ?? null };
  });
  const cpu = child(dom, "cpu");
  const vcpuEl = child(dom, "vcpu");
  const vcpus = Number(vcpuEl?.attrs["current"] ?? vcpuEl?.text.trim() ?? "1");
  return {
    name: child(dom, "name")?.text.trim() ?? "",
    type: dom.attrs["type"] ?? "kvm",
    uuid: (child(dom, "uuid")?.text.trim() ?? "").toLowerCase(),
    memoryKiB: kib(child(dom, "memory")),
    vcpus: Number.isFinite(vcpus) && vcpus > 0 ? vcpus : 1,
    disks,
    nics,
    bridges: unique(nics.filter((n) => n.type === "bridge" && n.source).map((n) => n.source as string)),
    networks: unique(nics.filter((n) => n.type === "network" && n.source).map((n) => n.source as string)),
    tags: tagsOf(child(dom, "metadata")),
    cpuXml: cpu && (cpu.children.length > 0 || cpu.attrs["mode"]) ? toXml(cpu) : null,
  };
}

/** The host CPU of a capabilities document, as a <cpu> element usable by compareCpu. */
export function hostCpuXml(capabilitiesXml: string): string | null {
  const cpu = path(parseXml(capabilitiesXml), "host", "cpu");
  return cpu ? toXml(cpu) : null;
}

const unique = (xs: string[]): string[] => [...new Set(xs)];
