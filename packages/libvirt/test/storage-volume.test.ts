import { describe, expect, it } from "vitest";
import { LibvirtArgumentError, volumeXml } from "../src/index.js";

describe("storage volume XML", () => {
  it("names the image in its directory with its size and format, and a backing layer when given", () => {
    const v = volumeXml({ path: "/var/lib/libvirt/images/a&b.qcow2", capacityBytes: 33554432, format: "qcow2" });
    expect(v.dir).toBe("/var/lib/libvirt/images");
    expect(v.name).toBe("a&b.qcow2");
    expect(v.xml).toContain("<name>a&amp;b.qcow2</name>");
    expect(v.xml).toContain("<capacity unit='bytes'>33554432</capacity>");
    expect(v.xml).toContain("<format type='qcow2'/>");
    expect(v.xml).not.toContain("backingStore");
    const b = volumeXml({ path: "/i/top.qcow2", capacityBytes: 1, format: "qcow2", backing: { path: "/i/base.raw", format: "raw" } });
    expect(b.xml).toContain("<backingStore><path>/i/base.raw</path><format type='raw'/></backingStore>");
  });

  it("refuses paths, sizes and formats that are not what they claim, naming the field", () => {
    const ok = { path: "/i/a.qcow2", capacityBytes: 1, format: "qcow2" };
    for (const [spec, msg] of [
      [{ ...ok, path: "i/a.qcow2" }, /volume path must be an absolute/],
      [{ ...ok, path: "/i/../a.qcow2" }, /volume path must be an absolute, normalised/],
      [{ ...ok, path: "/i/" }, /volume path/],
      [{ ...ok, capacityBytes: 0 }, /capacityBytes must be a positive integer/],
      [{ ...ok, capacityBytes: 1.5 }, /capacityBytes/],
      [{ ...ok, format: "qcow2'/><x" }, /volume format/],
      [{ ...ok, backing: { path: "rel", format: "raw" } }, /volume backing path/],
      [{ ...ok, backing: { path: "/b", format: "" } }, /volume backing format/],
    ] as const) {
      expect(() => volumeXml(spec as Parameters<typeof volumeXml>[0])).toThrow(LibvirtArgumentError);
      expect(() => volumeXml(spec as Parameters<typeof volumeXml>[0])).toThrow(msg);
    }
  });
});
