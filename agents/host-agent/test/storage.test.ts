import { describe, expect, it } from "vitest";
import { DEFAULT_SHARED_FS_TYPES } from "../src/index.js";
import { parseMounts, StorageClassifier } from "../src/storage.js";

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
    expect(c.mountOf("/srv/vms/a.img", MOUNTS)?.fsType).toBe("nfs4");
    expect(c.mountOf("/srv/vmsX/a.img", MOUNTS)?.fsType).toBe("ext4");
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
