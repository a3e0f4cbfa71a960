import { describe, expect, it } from "vitest";
import { diskSharedWith, disksToCopy, localDiskBytes, type StorageMount } from "../src/index.js";

const nfs = (source: string): StorageMount => ({ path: "/srv/vms", fsType: "nfs4", shared: true, source });
const local: StorageMount = { path: "/", fsType: "ext4", shared: false, source: "/dev/sda1" };
const disk = (path: string | null, over: Partial<{ shared: boolean; network: boolean; readOnly: boolean }> = {}) => ({
  target: "vda",
  path,
  shared: true,
  network: false,
  readOnly: false,
  ...over,
});

describe("which disks a move copies", () => {
  it("shares a disk only when both hosts mount the same shared filesystem at its path", () => {
    const here = [local, nfs("nas:/export/vms")];
    expect(diskSharedWith(disk("/srv/vms/a.qcow2"), here, [local, nfs("nas:/export/vms")])).toBe(true);
    // Same path, another export: two filesystems that only look alike.
    expect(diskSharedWith(disk("/srv/vms/a.qcow2"), here, [local, nfs("other:/export/vms")])).toBe(false);
    // The destination does not mount it at all, or only as something else.
    expect(diskSharedWith(disk("/srv/vms/a.qcow2"), here, [local])).toBe(false);
    expect(diskSharedWith(disk("/srv/vms/a.qcow2"), here, [local, { ...nfs("nas:/export/vms"), fsType: "ext4", shared: false }])).toBe(
      false,
    );
    // A local mount below the shared one holds the disk: not shared.
    const below: StorageMount = { path: "/srv/vms/scratch", fsType: "ext4", shared: false, source: "/dev/sdb1" };
    expect(diskSharedWith(disk("/srv/vms/scratch/b.img", { shared: false }), [...here, below], [...here, below])).toBe(false);
  });

  it("treats network disks as shared and local ones as copied; read-only media and empty drives are never copied", () => {
    const here = [local];
    const there = [local];
    const disks = [
      { ...disk("rbd:pool/a"), target: "vda", network: true },
      { ...disk("/var/lib/libvirt/images/b.qcow2", { shared: false }), target: "vdb" },
      { ...disk("/iso/x.iso", { shared: false, readOnly: true }), target: "sda" },
      { ...disk(null, { shared: false }), target: "sdb" },
    ];
    expect(disksToCopy(disks, here, there).map((d) => d.target)).toEqual(["vdb"]);
  });

  it("counts the bytes of writable disks on no shared storage", () => {
    expect(
      localDiskBytes([
        { ...disk("/a", { shared: false }), allocationBytes: 100, capacityBytes: 1000 },
        { ...disk("/b", { shared: false }), allocationBytes: null, capacityBytes: 50 },
        { ...disk("/srv/vms/c"), allocationBytes: 7 },
        { ...disk("/iso", { shared: false, readOnly: true }), allocationBytes: 9 },
      ]),
    ).toBe(150);
  });
});
