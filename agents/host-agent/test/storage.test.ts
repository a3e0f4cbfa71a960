import { statfsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mountHolding } from "@drover/protocol";
import { DEFAULT_SHARED_FS_TYPES } from "../src/index.js";
import { parseMounts, reportedStorage, StorageClassifier } from "../src/storage.js";

const MOUNTS = parseMounts(`/dev/sda1 / ext4 rw 0 0
proc /proc proc rw 0 0
nas:/export/vms /srv/vms nfs4 rw 0 0
/dev/sdb1 /srv/lab\\040dir ext4 rw 0 0
tmpfs /run tmpfs rw 0 0
gluster:/vol /mnt/gv fuse.glusterfs rw 0 0
`);

describe("storage classification", () => {
  const c = new StorageClassifier(DEFAULT_SHARED_FS_TYPES, ["/srv/lab dir/shared"]);

  it("decodes octal escapes and picks the longest mount", () => {
    expect(MOUNTS.map((m) => m.path)).toContain("/srv/lab dir");
    expect(mountHolding("/srv/vms/a.img", MOUNTS)?.fsType).toBe("nfs4");
    expect(mountHolding("/srv/vmsX/a.img", MOUNTS)?.fsType).toBe("ext4");
  });

  it("classifies by filesystem type and by declared shared paths", () => {
    expect(c.isShared("/srv/vms/a.img", MOUNTS)).toBe(true);
    expect(c.isShared("/mnt/gv/x", MOUNTS)).toBe(true);
    expect(c.isShared("/var/lib/libvirt/images/a.img", MOUNTS)).toBe(false);
    expect(c.isShared("/srv/lab dir/shared/g.img", MOUNTS)).toBe(true);
    expect(c.isShared("/srv/lab dir/other/g.img", MOUNTS)).toBe(false);
  });

  it("reports real mounts plus declared shared paths, not pseudo filesystems", () => {
    const r = c.classify(MOUNTS);
    expect(r.map((m) => [m.path, m.shared])).toEqual([
      ["/", false],
      ["/srv/vms", true],
      ["/srv/lab dir", false],
      ["/mnt/gv", true],
      ["/srv/lab dir/shared", true],
    ]);
  });
});

describe("reported storage", () => {
  it("gives a local mount's space as statfs does, and never asks a shared one", async () => {
    const out = await reportedStorage(
      [
        { source: "/dev/root", path: "/", fsType: "ext4", shared: false },
        // statfs would answer for this path too (it is the root filesystem here): a shared mount is not asked.
        { source: "nas:/export", path: "/", fsType: "nfs4", shared: true },
        { source: "/dev/gone", path: "/no/such/mount", fsType: "ext4", shared: false },
      ],
      1000,
    );
    const root = statfsSync("/");
    expect(out[0]).toMatchObject({ path: "/", shared: false, sizeBytes: root.blocks * root.bsize });
    // Free space moves between the two reads; within 64 MiB of it.
    expect(Math.abs(out[0]!.freeBytes! - root.bavail * root.bsize)).toBeLessThan(64 * 1024 * 1024);
    expect(out[1]).toEqual({ source: "nas:/export", path: "/", fsType: "nfs4", shared: true });
    expect(out[2]).toEqual({ source: "/dev/gone", path: "/no/such/mount", fsType: "ext4", shared: false });
  });
});
