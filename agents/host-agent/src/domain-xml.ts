import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { issuesOf, VmMetadataRules } from "@drover/protocol";
import { AgentError, AgentErrorCode } from "./errors.js";

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
  /** The source's type attribute: file, block, dir, network, volume. */
  sourceType: string;
  /** The driver's image format (qcow2, raw, ...), null when not given. */
  format: string | null;
  /** The image this one overlays (the next layer of its backing chain), when libvirt shows one. */
  backing: { path: string; format: string | null } | null;
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
  /** The `<drover:rules>` element, validated; null when the domain has none or they are invalid. */
  rules: VmMetadataRules | null;
  /** Why `rules` is null although the domain has a `<drover:rules>` element. */
  rulesProblem: string | null;
  /** <domain type=...>: "kvm", or "qemu" for TCG (emulated CPU, no host CPU dependency). */
  type: string;
  /** The <cpu> element as XML (for compareCpu), or null when the domain has none. */
  cpuXml: string | null;
  /** <cpu mode=...>: "host-passthrough" guests see the host CPU as it is; null without a <cpu>. */
  cpuMode: string | null;
}

// libvirt's documents read with fast-xml-parser. Entity expansion is off: only the five standard
// entities and character references are decoded (by `decode`), a DOCTYPE's entities never are, so a
// "billion laughs" document stays as small as it was written.
const XML_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: "#cdata",
} as const;
const parser = new XMLParser(XML_OPTIONS);
const builder = new XMLBuilder({ ...XML_OPTIONS, suppressEmptyNode: true });

/** One node of fast-xml-parser's ordered output: `{ name: children[], ":@": attributes }` or `{ "#text": text }`. */
type OrderedNode = Record<string, unknown>;

interface XmlElement {
  name: string;
  /** Attribute values with entities decoded. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text content (entities decoded, CDATA verbatim). */
  text: string;
  /** The parser's node, kept to serialise the element back (cpuXml). */
  node: OrderedNode;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] !== "#") return ENTITIES[e] ?? m;
    const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}

function element(node: OrderedNode): XmlElement | undefined {
  const name = Object.keys(node).find((k) => k !== ":@");
  if (name === undefined || name === "#text" || name === "#cdata") return undefined;
  const attrs = Object.entries((node[":@"] ?? {}) as Record<string, unknown>).map(([k, v]) => [k, decode(String(v))]);
  const el: XmlElement = { name, attrs: Object.fromEntries(attrs), children: [], text: "", node };
  for (const kid of node[name] as OrderedNode[]) {
    if ("#text" in kid) el.text += decode(String(kid["#text"]));
    else if ("#cdata" in kid) el.text += (kid["#cdata"] as OrderedNode[]).map((t) => String(t["#text"] ?? "")).join("");
    else {
      const c = element(kid);
      if (c) el.children.push(c);
    }
  }
  return el;
}

/** The root element of a well-formed document; malformed XML is an AgentError naming where. */
function parseXml(xml: string): XmlElement {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new AgentError(AgentErrorCode.InvalidXml, `invalid XML at line ${valid.err.line}: ${valid.err.msg}`);
  let nodes: OrderedNode[];
  try {
    nodes = parser.parse(xml) as OrderedNode[];
  } catch (e) {
    // The validator passes what the parser still refuses, e.g. an external entity in a DOCTYPE.
    throw new AgentError(AgentErrorCode.InvalidXml, `invalid XML: ${(e as Error).message}`, { cause: e });
  }
  const root = nodes.map(element).find((e) => e !== undefined);
  if (!root) throw new AgentError(AgentErrorCode.InvalidXml, "invalid XML: no root element");
  return root;
}

/** The element back as XML (for handing a CPU definition to compareCpu). */
const toXml = (el: XmlElement): string => builder.build([el.node]) as string;

/** The local part of a possibly prefixed name. */
const localName = (name: string): string => name.slice(name.indexOf(":") + 1);

const child = (el: XmlElement | undefined, name: string): XmlElement | undefined => el?.children.find((c) => c.name === name);

const children = (el: XmlElement | undefined, name: string): XmlElement[] => (el ? el.children.filter((c) => c.name === name) : []);

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

/** The next layer of a disk's chain: `<backingStore><format type=.../><source file=.../>` (an empty one ends the chain). */
function backingOf(d: XmlElement): DomainDisk["backing"] {
  const b = child(d, "backingStore");
  const file = b ? child(b, "source")?.attrs["file"] : undefined;
  return b && file ? { path: file, format: child(b, "format")?.attrs["type"] ?? null } : null;
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
    sourceType: type,
    format: child(d, "driver")?.attrs["type"] ?? null,
    backing: backingOf(d),
  };
}

/** Tags from `<metadata><drover:tags xmlns:drover="https://drover.dev/ns/1">a,b</drover:tags>` (or `<tags>` inside `<drover:rules>`). */
function tagsOf(metadata: XmlElement | undefined): string[] {
  const out: string[] = [];
  for (const el of droverElements(metadata)) {
    const tagEls = localName(el.name) === "tags" ? [el] : el.children.filter((c) => localName(c.name) === "tags");
    for (const t of tagEls) {
      const items = t.children.filter((c) => localName(c.name) === "tag");
      const words = items.length ? items.map((c) => c.text) : t.text.split(/[,\s]+/);
      for (const w of words.map((s) => s.trim()).filter(Boolean)) if (!out.includes(w)) out.push(w);
    }
  }
  return out;
}

/** The Drover-namespace elements of `<metadata>` (libvirt keeps one per namespace, but a hand-edited file may have more). */
function droverElements(metadata: XmlElement | undefined): XmlElement[] {
  return (metadata?.children ?? []).filter((el) => {
    const prefix = el.name.includes(":") ? el.name.slice(0, el.name.indexOf(":")) : null;
    return (prefix ? el.attrs[`xmlns:${prefix}`] : el.attrs["xmlns"]) === DROVER_NS;
  });
}

const RULE_ATTRS = ["pinned", "post-copy", "priority"];
const BOOLEANS: Record<string, boolean> = { yes: true, true: true, "1": true, no: false, false: false, "0": false };

/** A yes/no attribute; anything else is kept as the string, for zod to name. */
const flag = (v: string | undefined): unknown => (v === undefined ? undefined : (BOOLEANS[v.trim().toLowerCase()] ?? v));

/**
 * `<drover:rules pinned="yes" post-copy="yes" priority="10">` with `<affinity group="G" hard="no"/>`,
 * `<anti-affinity group="G"/>`, `<hosts mode="must">h1 h2</hosts>` and `<tags>` children (README
 * "Rules in libvirt metadata"). Unknown attributes or elements are refused, not ignored: a typo must
 * not read as "no rule".
 */
function rulesOf(metadata: XmlElement | undefined): { rules: VmMetadataRules | null; problem: string | null } {
  const el = droverElements(metadata).find((e) => localName(e.name) === "rules");
  if (!el) return { rules: null, problem: null };
  const problems: string[] = [];
  for (const a of Object.keys(el.attrs)) if (!a.startsWith("xmlns") && !RULE_ATTRS.includes(a)) problems.push(`unknown attribute "${a}"`);
  const priority = el.attrs["priority"];
  const raw = {
    pinned: flag(el.attrs["pinned"]),
    postCopy: flag(el.attrs["post-copy"]),
    priority: priority === undefined ? undefined : /^\s*-?\d+\s*$/.test(priority) ? Number(priority) : priority,
    groups: [] as unknown[],
    hosts: [] as unknown[],
  };
  for (const c of el.children) {
    const kind = localName(c.name);
    if (kind === "affinity" || kind === "anti-affinity") {
      raw.groups.push({ kind, group: c.attrs["group"], hard: flag(c.attrs["hard"]) ?? true });
    } else if (kind === "hosts") {
      raw.hosts.push({ mode: c.attrs["mode"] ?? "must", hosts: c.text.split(/[,\s]+/).filter(Boolean) });
    } else if (kind !== "tags") problems.push(`unknown element <${kind}>`);
  }
  const parsed = VmMetadataRules.safeParse(raw);
  if (!parsed.success) for (const i of issuesOf(parsed.error, VmMetadataRules)) problems.push(`${i.field}: ${i.message}`);
  // Bounded like every text of a report (HostReportLimits.textChars).
  if (problems.length > 0 || !parsed.success)
    return { rules: null, problem: `<drover:rules> ignored: ${problems.join("; ")}`.slice(0, 4000) };
  return { rules: parsed.data, problem: null };
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
  const rules = rulesOf(child(dom, "metadata"));
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
    rules: rules.rules,
    rulesProblem: rules.problem,
    cpuXml: cpu && (cpu.children.length > 0 || cpu.attrs["mode"]) ? toXml(cpu) : null,
    cpuMode: cpu ? (cpu.attrs["mode"] ?? "custom") : null,
  };
}

const unique = (xs: string[]): string[] => [...new Set(xs)];
