import { describe, expect, it } from "vitest";
import { hostUuidOf } from "../src/host-uuid.js";

// The head of `virsh capabilities` as libvirt 9 prints it.
const caps = (uuid: string) => `<capabilities>

  <host>
    <uuid>${uuid}</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>qemu64</model>
    </cpu>
    <topology><cells num='1'><cell id='0'><cpus num='2'/></cell></cells></topology>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'><domain type='qemu'/></arch>
  </guest>
</capabilities>`;

describe("hostUuidOf", () => {
  it("reads <host><uuid>, lowercased", () => {
    expect(hostUuidOf(caps("4C4C4544-0042-3510-8052-B4C04F4B4E32"))).toBe("4c4c4544-0042-3510-8052-b4c04f4b4e32");
  });

  it("is null for XML without a host UUID, a value that is no UUID, or no XML at all", () => {
    expect(hostUuidOf("<capabilities><host><cpu/></host></capabilities>")).toBeNull();
    expect(hostUuidOf(caps("not-a-uuid"))).toBeNull();
    expect(hostUuidOf("")).toBeNull();
    expect(hostUuidOf("<capabilities><host><uuid>")).toBeNull();
  });
});
