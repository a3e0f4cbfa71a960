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
});
