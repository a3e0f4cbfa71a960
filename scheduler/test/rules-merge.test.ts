import { VmMetadataRules, type VmReport } from "@drover/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { mergeRules, vmRuleEntries } from "../src/rules/merge.js";

const vm = (name: string, tags: string[] = [], rules?: Partial<VmMetadataRules>) => ({
  uuid: `uuid-${name}`,
  report: { name, tags, ...(rules ? { rules: VmMetadataRules.parse(rules) } : {}) } as Pick<VmReport, "name" | "tags" | "rules">,
});
const yaml = (rules: unknown[]) =>
  parseConfig({ cluster: "c", nats: { servers: ["nats://127.0.0.1:1"] }, stateDir: "/tmp/x", rules }).rules;

describe("rule merge", () => {
  it("makes one group rule of a group whichever source names its members", () => {
    const vms = [
      vm("a", ["drover:anti-affinity:web"]),
      vm("b", [], { groups: [{ kind: "anti-affinity", group: "web", hard: true }] }),
      // Both sources on one VM: still one member.
      vm("c", ["drover:anti-affinity:web"], { groups: [{ kind: "anti-affinity", group: "web", hard: true }] }),
    ];
    const m = mergeRules(vms, []);
    expect(m.rules).toEqual([
      { id: "meta:anti-affinity:web", kind: "vm-anti-affinity", vmIds: ["uuid-a", "uuid-b", "uuid-c"], hard: true },
    ]);
    expect(m.conflicts).toEqual([]);
    expect(vmRuleEntries(vms[2]!, [], m)).toEqual([
      { what: "anti-affinity web (hard)", from: "tag", rule: "meta:anti-affinity:web" },
      { what: "anti-affinity web (hard)", from: "metadata", rule: "meta:anti-affinity:web" },
    ]);
  });

  it("applies a group that is hard for one member and soft for another as hard, and reports it", () => {
    const m = mergeRules(
      [
        vm("a", [], { groups: [{ kind: "affinity", group: "db", hard: true }] }),
        vm("b", [], { groups: [{ kind: "affinity", group: "db", hard: false }] }),
      ],
      [],
    );
    expect(m.rules).toEqual([{ id: "meta:affinity:db", kind: "vm-affinity", vmIds: ["uuid-a", "uuid-b"], hard: true }]);
    expect(m.conflicts).toEqual([
      { message: "affinity group db is hard for a and soft for b: applied as hard", vms: ["uuid-a", "uuid-b"] },
    ]);
  });

  it("keeps the YAML's hard host rule over a metadata one that leaves no host, and reports it", () => {
    const cfg = yaml([{ id: "licensed", kind: "vm-host", tag: "oracle", hosts: ["h1", "h2"], mode: "must" }]);
    const vms = [
      vm("x", ["oracle"], { hosts: [{ mode: "must", hosts: ["h3"] }] }),
      vm("y", ["oracle"], { hosts: [{ mode: "must", hosts: ["h2", "h3"] }] }),
      vm("z", ["oracle"], { hosts: [{ mode: "should", hosts: ["h3"] }] }),
    ];
    const m = mergeRules(vms, cfg);
    expect(m.rules).toEqual([
      { id: "licensed", kind: "vm-host", vmIds: ["uuid-x", "uuid-y", "uuid-z"], hostIds: ["h1", "h2"], mode: "must" },
      { id: "meta:hosts-must:y", kind: "vm-host", vmIds: ["uuid-y"], hostIds: ["h2", "h3"], mode: "must" },
      { id: "meta:hosts-should:z", kind: "vm-host", vmIds: ["uuid-z"], hostIds: ["h3"], mode: "should" },
    ]);
    expect(m.conflicts).toEqual([
      {
        message: "x: hosts must h3 (metadata) leaves no host with config rule licensed: the config applies, the metadata rule is dropped",
        vms: ["uuid-x"],
      },
    ]);
    expect(vmRuleEntries(vms[0]!, cfg, m)).toEqual([
      { what: "hosts must h3 (dropped: conflicts with config)", from: "metadata", rule: "meta:hosts-must:x" },
      { what: "hosts must h1,h2", from: "config", rule: "licensed" },
    ]);
  });

  it("a must-not in the metadata that excludes every host the YAML allows is a conflict too", () => {
    const cfg = yaml([{ id: "rack", kind: "vm-host", tag: "r", hosts: ["h1"], mode: "must" }]);
    const m = mergeRules([vm("x", ["r"], { hosts: [{ mode: "must-not", hosts: ["h1"] }] })], cfg);
    expect(m.rules.map((r) => r.id)).toEqual(["rack"]);
    expect(m.conflicts).toHaveLength(1);
  });

  it("reports VMs that must be together and apart, and keeps both rules", () => {
    const m = mergeRules(
      [
        vm("a", ["drover:affinity:pair"], { groups: [{ kind: "anti-affinity", group: "spread", hard: true }] }),
        vm("b", ["drover:affinity:pair"], { groups: [{ kind: "anti-affinity", group: "spread", hard: true }] }),
      ],
      [],
    );
    expect(m.rules.map((r) => r.id)).toEqual(["meta:affinity:pair", "meta:anti-affinity:spread"]);
    expect(m.conflicts).toEqual([
      {
        message: "a, b must be together (meta:affinity:pair) and apart (meta:anti-affinity:spread): both kept, neither can be met",
        vms: ["uuid-a", "uuid-b"],
      },
    ]);
  });

  it("shows per-VM settings with their source, and YAML rules by tag", () => {
    const cfg = yaml([{ id: "web-spread", kind: "vm-anti-affinity", tag: "web", hard: false }]);
    const v = vm("a", ["drover:pinned", "web"], { pinned: true, postCopy: true, priority: 7 });
    const m = mergeRules([v], cfg);
    expect(vmRuleEntries(v, cfg, m)).toEqual([
      { what: "pinned", from: "metadata", rule: null },
      { what: "pinned", from: "tag", rule: null },
      { what: "post-copy allowed", from: "metadata", rule: null },
      { what: "priority 7", from: "metadata", rule: null },
      { what: "anti-affinity tag web (soft)", from: "config", rule: "web-spread" },
    ]);
  });
});
