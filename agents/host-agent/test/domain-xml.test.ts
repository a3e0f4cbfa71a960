import { describe, expect, it } from "vitest";
import { AgentError, describeDomain } from "../src/index.js";

const XML = `<?xml version="1.0"?>
<!-- a libvirt domain -->
<domain type='qemu' id='3'>
  <name>web-1</name>
  <uuid>0D0E0F00-1111-4222-8333-444455556666</uuid>
  <metadata>
    <other:thing xmlns:other="https://example.com/x">ignored</other:thing>
    <drover:tags xmlns:drover='https://drover.dev/ns/1'><drover:tag>web</drover:tag><drover:tag>az-a &amp; b</drover:tag></drover:tags>
  </metadata>
  <memory unit='MiB'>96</memory>
  <vcpu placement='static' current='2'>4</vcpu>
  <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='/srv/shared/web-1.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback'/>
      <source file='/var/lib/libvirt/images/scratch.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='pool/img'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cc'/><source bridge='br-prod'/></interface>
    <interface type='network'><source network='default'/></interface>
    <interface type='bridge'><source bridge='br-prod'/></interface>
  </devices>
</domain>`;

describe("domain XML", () => {
  it("extracts disks, cache modes, bridges, tags and CPU", () => {
    const d = describeDomain(XML);
    expect(d.name).toBe("web-1");
    expect(d.type).toBe("qemu");
    expect(d.uuid).toBe("0d0e0f00-1111-4222-8333-444455556666");
    expect(d.memoryKiB).toBe(96 * 1024);
    expect(d.vcpus).toBe(2);
    expect(d.disks.map((k) => [k.target, k.path, k.cacheMode, k.local])).toEqual([
      ["vda", "/srv/shared/web-1.img", "none", true],
      ["vdb", "/var/lib/libvirt/images/scratch.qcow2", "writeback", true],
      ["vdc", "rbd:pool/img", "default", false],
      ["sda", null, "default", false],
    ]);
    expect(d.disks[3]?.readOnly).toBe(true);
    expect(d.bridges).toEqual(["br-prod"]);
    expect(d.networks).toEqual(["default"]);
    expect(d.tags).toEqual(["web", "az-a & b"]);
    expect(d.cpuXml).toMatch(/^<cpu mode="custom" match="exact"><model fallback="forbid">qemu64<\/model><\/cpu>$/);
  });

  it("reads the comma-separated tag form and ignores other namespaces", () => {
    const d = describeDomain(
      `<domain><metadata><d:tags xmlns:d="https://drover.dev/ns/1">a, b,,c</d:tags><x:tags xmlns:x="urn:other">no</x:tags></metadata></domain>`,
    );
    expect(d.tags).toEqual(["a", "b", "c"]);
  });

  it("rejects malformed XML instead of guessing", () => {
    expect(() => describeDomain("<domain><b></domain>")).toThrow(AgentError);
    expect(() => describeDomain("<domain>")).toThrow(/Unclosed/);
    expect(() => describeDomain("")).toThrow(/invalid XML/);
  });

  it("decodes the standard entities and character references, CDATA verbatim", () => {
    const d = describeDomain(`<domain><name>a&lt;b&#x26;&#38;</name><uuid><![CDATA[&amp;]]></uuid></domain>`);
    expect(d.name).toBe("a<b&&");
    expect(d.uuid).toBe("&amp;");
  });

  // "Billion laughs": nested DOCTYPE entities that would expand to 10^9 "lol"s. Entity expansion is
  // off, so the reference stays as written and the description is as small as the input.
  it("never expands a DOCTYPE's entities", () => {
    const lols = Array.from({ length: 8 }, (_, k) => `<!ENTITY lol${k + 1} "${`&lol${k};`.repeat(10)}">`).join("");
    const bomb = `<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY lol0 "lol">${lols}]>
<domain type='kvm'><name>&lol8;</name><metadata><drover:tags xmlns:drover="https://drover.dev/ns/1">&lol8;,web</drover:tags></metadata></domain>`;
    const d = describeDomain(bomb);
    expect(d.name).toBe("&lol8;");
    expect(d.tags).toEqual(["&lol8;", "web"]);
    expect(JSON.stringify(d).length).toBeLessThan(bomb.length);
  });

  it("refuses external entities instead of reading them", () => {
    const xxe = `<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><domain><name>&xxe;</name></domain>`;
    expect(() => describeDomain(xxe)).toThrow(/invalid XML: External entities/);
  });

  describe("<drover:rules>", () => {
    // As libvirt stores what `virsh metadata --key drover --set '<rules …>'` wrote: every element prefixed.
    const withRules = (rules: string) =>
      `<domain><name>db-1</name><metadata>${rules.replace("<drover:rules", '<drover:rules xmlns:drover="https://drover.dev/ns/1"')}</metadata></domain>`;

    it("reads every rule and setting, with tags inside the same element", () => {
      const d = describeDomain(
        withRules(`<drover:rules pinned="yes" post-copy="true" priority="-5">
          <drover:tags>web,db</drover:tags>
          <drover:affinity group="db"/>
          <drover:anti-affinity group="web" hard="no"/>
          <drover:hosts mode="should">h1 h2</drover:hosts>
          <drover:hosts mode="must-not">h9</drover:hosts>
        </drover:rules>`),
      );
      expect(d.rulesProblem).toBeNull();
      expect(d.tags).toEqual(["web", "db"]);
      expect(d.rules).toEqual({
        pinned: true,
        postCopy: true,
        priority: -5,
        groups: [
          { kind: "affinity", group: "db", hard: true },
          { kind: "anti-affinity", group: "web", hard: false },
        ],
        hosts: [
          { mode: "should", hosts: ["h1", "h2"] },
          { mode: "must-not", hosts: ["h9"] },
        ],
      });
    });

    it("gives defaults for what is not written, and null without the element", () => {
      expect(describeDomain(withRules(`<drover:rules/>`)).rules).toEqual({
        pinned: false,
        postCopy: false,
        priority: 0,
        groups: [],
        hosts: [],
      });
      const none = describeDomain(
        `<domain><metadata><drover:tags xmlns:drover="https://drover.dev/ns/1">a</drover:tags></metadata></domain>`,
      );
      expect(none.rules).toBeNull();
      expect(none.rulesProblem).toBeNull();
    });

    it("names every mistake and keeps the rest of the description", () => {
      const d = describeDomain(
        withRules(`<drover:rules pinned="maybe" priority="high" colour="red">
          <drover:tags>a</drover:tags>
          <drover:affinity/>
          <drover:hosts mode="always">h1</drover:hosts>
          <drover:pin/>
        </drover:rules>`),
      );
      expect(d.rules).toBeNull();
      expect(d.rulesProblem).toMatch(/^<drover:rules> ignored: /);
      for (const part of [
        'unknown attribute "colour"',
        "unknown element <pin>",
        "pinned:",
        "priority:",
        "groups.0.group:",
        "hosts.0.mode:",
      ]) {
        expect(d.rulesProblem).toContain(part);
      }
      expect(d.name).toBe("db-1");
      expect(d.tags).toEqual(["a"]);
    });

    it("ignores a rules element of another namespace", () => {
      const d = describeDomain(`<domain><metadata><x:rules xmlns:x="urn:other" pinned="yes"/></metadata></domain>`);
      expect(d.rules).toBeNull();
      expect(d.rulesProblem).toBeNull();
    });
  });
});
