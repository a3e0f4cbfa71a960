/** A minimal domain for libvirt's in-process test driver (test:///default). */
export function testDomainXml(name: string, memoryMiB = 64): string {
  return `<domain type='test'>
  <name>${name}</name>
  <memory unit='MiB'>${memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>`;
}
