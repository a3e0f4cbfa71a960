// The one place where a VM's rules are gathered: the scheduler's YAML `rules` (by tag), the legacy
// `drover:*` tags and the `<drover:rules>` element of the domain's metadata. Planning takes the
// policy rules from here; `/v1/vms` and `drover vms` show each VM's effective rules and where each
// came from, and the conflicts found.
//
// Precedence: the YAML is the cluster owner's reviewed, versioned contract (licensing, failure
// domains); the metadata is whoever may edit a domain. So where the two cannot both hold (a VM's hard
// host rules leave it no host) the YAML rule applies and the metadata rule is dropped. Everything
// else adds up: a group is one rule whichever source names its members, a VM is pinned if any source
// pins it. Each conflict is reported (API, CLI, `drover_rule_conflicts`), never silently resolved.
import type { Rule, VmHostMode } from "@drover/policy";
import type { VmReport } from "@drover/protocol";
import type { RuleConfig } from "../config.js";

/** Tags an operator puts on a VM (domain metadata) that the scheduler understands. */
export const Tags = {
  pinned: "drover:pinned",
  postCopy: "drover:post-copy",
  /** `drover:anti-affinity:GROUP` keeps the group's VMs on distinct hosts (hard). */
  antiAffinity: "drover:anti-affinity:",
  /** `drover:affinity:GROUP` keeps the group's VMs together (hard). */
  affinity: "drover:affinity:",
} as const;

/** Where a VM's rule comes from: the `<drover:rules>` element, a `drover:*` tag, or the YAML. */
export type RuleSource = "metadata" | "tag" | "config";

export interface VmRuleEntry {
  /** Human words: "pinned", "anti-affinity web (hard)", "hosts must h1,h2", "priority 5". */
  what: string;
  from: RuleSource;
  /** The policy rule's id (what plans name), null for per-VM settings. */
  rule: string | null;
}

export interface RuleConflict {
  /** What cannot hold and what was done about it. */
  message: string;
  vms: string[];
}

export interface MergedRules {
  /** What the policy plans with. */
  rules: Rule[];
  conflicts: RuleConflict[];
}

type VmLike = { readonly uuid: string; readonly report: Pick<VmReport, "name" | "tags" | "rules"> };

/** Never migrate: a `drover:pinned` tag or `<drover:rules pinned="yes">`. */
export const isPinned = (r: Pick<VmReport, "tags" | "rules">): boolean => r.rules?.pinned === true || r.tags.includes(Tags.pinned);
/** Post-copy allowed: a `drover:post-copy` tag or `<drover:rules post-copy="yes">`. */
export const allowsPostCopy = (r: Pick<VmReport, "tags" | "rules">): boolean =>
  r.rules?.postCopy === true || r.tags.includes(Tags.postCopy);
/** A move of this VM may switch to post-copy: the VM allows it and so does the cluster (`migration.allowPostCopy`). */
export const mayPostCopy = (migration: { allowPostCopy: boolean }, r: Pick<VmReport, "tags" | "rules">): boolean =>
  migration.allowPostCopy && allowsPostCopy(r);

const HARD_HOST: ReadonlySet<VmHostMode> = new Set(["must", "must-not"]);
const groupKinds = { affinity: "vm-affinity", "anti-affinity": "vm-anti-affinity" } as const;

interface Group {
  kind: "affinity" | "anti-affinity";
  name: string;
  members: string[];
  hard: string[];
  soft: string[];
}

/**
 * Policy rules from every source for `vms` (the planned ones). One pass over the VMs; the work per
 * VM without rules is a look at its tags, as before (200,000 VMs a planning round).
 */
export function mergeRules(vms: Iterable<VmLike>, config: readonly RuleConfig[]): MergedRules {
  const wanted = new Set(config.map((r) => r.tag));
  const byTag = new Map<string, string[]>();
  const groups = new Map<string, Group>();
  const hostRules: { uuid: string; name: string; mode: VmHostMode; hosts: string[] }[] = [];
  const names = new Map<string, string>();
  const addToGroup = (kind: Group["kind"], name: string, v: VmLike, hard: boolean) => {
    const uuid = v.uuid;
    names.set(uuid, v.report.name);
    const key = `${kind}:${name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kind, name, members: [], hard: [], soft: [] }));
    // A VM's own entries come one after another: a second source naming the same group adds no member.
    if (g.members[g.members.length - 1] !== uuid) g.members.push(uuid);
    (hard ? g.hard : g.soft).push(uuid);
  };
  // By index: this runs once a snapshot over every VM (200,000), mostly before it is optimised, and
  // a for-of made an iterator result per VM and per tag (a quarter of what a snapshot allocated).
  const list = Array.isArray(vms) ? (vms as readonly VmLike[]) : [...vms];
  for (let i = 0; i < list.length; i++) {
    const v = list[i] as VmLike;
    const r = v.report;
    const tags = r.tags;
    for (let k = 0; k < tags.length; k++) {
      const t = tags[k] as string;
      if (wanted.has(t)) {
        const l = byTag.get(t);
        if (l) l.push(v.uuid);
        else byTag.set(t, [v.uuid]);
      }
      if (t.startsWith(Tags.antiAffinity)) addToGroup("anti-affinity", t.slice(Tags.antiAffinity.length), v, true);
      else if (t.startsWith(Tags.affinity)) addToGroup("affinity", t.slice(Tags.affinity.length), v, true);
    }
    if (r.rules) {
      for (const g of r.rules.groups) addToGroup(g.kind, g.group, v, g.hard);
      for (const h of r.rules.hosts) hostRules.push({ uuid: v.uuid, name: r.name, mode: h.mode, hosts: h.hosts });
    }
  }
  const nameOf = (uuid: string) => names.get(uuid) ?? uuid;
  const rules: Rule[] = [];
  const conflicts: RuleConflict[] = [];
  for (const r of config) {
    const vmIds = byTag.get(r.tag) ?? [];
    if (r.kind === "vm-host") rules.push({ id: r.id, kind: "vm-host", vmIds, hostIds: r.hosts, mode: r.mode });
    else rules.push({ id: r.id, kind: r.kind, vmIds, hard: r.hard });
  }
  for (const g of groups.values()) {
    // Members disagreeing on hard or soft: the stricter holds, so no member's hard rule is broken.
    const hard = g.hard.length > 0;
    if (hard && g.soft.length > 0) {
      conflicts.push({
        message: `${g.kind} group ${g.name} is hard for ${g.hard.map(nameOf).join(", ")} and soft for ${g.soft.map(nameOf).join(", ")}: applied as hard`,
        vms: g.members,
      });
    }
    rules.push({ id: groupRuleId(g.kind, g.name), kind: groupKinds[g.kind], vmIds: g.members, hard });
  }
  for (const h of hostRules) {
    const id = hostRuleId(h.name, h.mode);
    const yaml = HARD_HOST.has(h.mode) ? leavesNoHost(h, config, byTag) : [];
    if (yaml.length > 0) {
      conflicts.push({
        message: `${h.name}: hosts ${h.mode} ${h.hosts.join(",")} (metadata) leaves no host with config rule ${yaml.join(", ")}: the config applies, the metadata rule is dropped`,
        vms: [h.uuid],
      });
      continue;
    }
    rules.push({ id, kind: "vm-host", vmIds: [h.uuid], hostIds: h.hosts, mode: h.mode });
  }
  conflicts.push(...togetherAndApart(rules, nameOf));
  return { rules, conflicts };
}

export const groupRuleId = (kind: Group["kind"], name: string): string => `meta:${kind}:${name}`;
const hostRuleId = (vmName: string, mode: VmHostMode): string => `meta:hosts-${mode}:${vmName}`;

/** The YAML hard host rules that, with the metadata's hard `h`, leave the VM no host; empty when some host remains. */
function leavesNoHost(
  h: { uuid: string; mode: VmHostMode; hosts: string[] },
  config: readonly RuleConfig[],
  byTag: ReadonlyMap<string, string[]>,
): string[] {
  const applying = config.filter((r) => r.kind === "vm-host" && HARD_HOST.has(r.mode) && (byTag.get(r.tag) ?? []).includes(h.uuid));
  let must: string[] | null = null;
  const mustNot = new Set<string>();
  for (const r of applying) {
    if (r.kind !== "vm-host") continue;
    if (r.mode === "must") must = must ? must.filter((x) => r.hosts.includes(x)) : [...r.hosts];
    else for (const x of r.hosts) mustNot.add(x);
  }
  if (h.mode === "must") must = (must ?? h.hosts).filter((x) => h.hosts.includes(x));
  else for (const x of h.hosts) mustNot.add(x);
  // With no "must" anywhere the VM may go on any host not excluded: some host always remains.
  const none = must !== null && must.every((x) => mustNot.has(x));
  return none ? applying.map((r) => r.id) : [];
}

/** Hard affinity and hard anti-affinity over the same two VMs: both are kept (neither is met by moving), and reported. */
function togetherAndApart(rules: readonly Rule[], nameOf: (uuid: string) => string): RuleConflict[] {
  const together = new Map<string, string[]>();
  for (const r of rules) {
    if (r.kind !== "vm-affinity" || !r.hard) continue;
    for (const v of r.vmIds) together.set(v, [...(together.get(v) ?? []), r.id]);
  }
  if (together.size === 0) return [];
  const out: RuleConflict[] = [];
  for (const r of rules) {
    if (r.kind !== "vm-anti-affinity" || !r.hard) continue;
    const seen = new Map<string, string[]>();
    for (const v of r.vmIds) for (const a of together.get(v) ?? []) seen.set(a, [...(seen.get(a) ?? []), v]);
    for (const [a, vs] of seen) {
      if (vs.length < 2) continue;
      out.push({
        message: `${vs.map(nameOf).join(", ")} must be together (${a}) and apart (${r.id}): both kept, neither can be met`,
        vms: vs,
      });
    }
  }
  return out;
}

/** Each VM's effective rules and where each came from (for the API); `merged` from mergeRules over the same VMs. */
export function vmRuleEntries(v: VmLike, config: readonly RuleConfig[], merged: MergedRules): VmRuleEntry[] {
  const r = v.report;
  const out: VmRuleEntry[] = [];
  const setting = (what: string, fromMeta: boolean, tag: string) => {
    if (fromMeta) out.push({ what, from: "metadata", rule: null });
    if (r.tags.includes(tag)) out.push({ what, from: "tag", rule: null });
  };
  setting("pinned", r.rules?.pinned === true, Tags.pinned);
  setting("post-copy allowed", r.rules?.postCopy === true, Tags.postCopy);
  if (r.rules && r.rules.priority !== 0) out.push({ what: `priority ${r.rules.priority}`, from: "metadata", rule: null });
  const byId = new Map(merged.rules.map((x) => [x.id, x]));
  const hardness = (id: string) => {
    const x = byId.get(id);
    return x && x.kind !== "vm-host" ? (x.hard ? "hard" : "soft") : "dropped";
  };
  for (const t of r.tags) {
    for (const kind of ["anti-affinity", "affinity"] as const) {
      const prefix = kind === "affinity" ? Tags.affinity : Tags.antiAffinity;
      if (!t.startsWith(prefix)) continue;
      const id = groupRuleId(kind, t.slice(prefix.length));
      out.push({ what: `${kind} ${t.slice(prefix.length)} (${hardness(id)})`, from: "tag", rule: id });
      break;
    }
  }
  for (const g of r.rules?.groups ?? []) {
    const id = groupRuleId(g.kind, g.group);
    out.push({ what: `${g.kind} ${g.group} (${hardness(id)})`, from: "metadata", rule: id });
  }
  for (const h of r.rules?.hosts ?? []) {
    const id = hostRuleId(r.name, h.mode);
    out.push({
      what: `hosts ${h.mode} ${h.hosts.join(",")}${byId.has(id) ? "" : " (dropped: conflicts with config)"}`,
      from: "metadata",
      rule: id,
    });
  }
  for (const c of config) {
    if (!r.tags.includes(c.tag)) continue;
    const what =
      c.kind === "vm-host" ? `hosts ${c.mode} ${c.hosts.join(",")}` : `${c.kind.slice(3)} tag ${c.tag} (${c.hard ? "hard" : "soft"})`;
    out.push({ what, from: "config", rule: c.id });
  }
  return out;
}
