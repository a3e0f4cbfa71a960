// How the agent carries out a strategy and copy-storage: the libvirt flags it migrates with, and
// which disks it copies (the rest of a run is exercised on the lab, test/src/migration-strategies.lab.test.ts).
import { describe, expect, it } from "vitest";
import { MigrateOptions, type StorageMount } from "@drover/protocol";
import { MigrateFlags } from "@drover/libvirt";
import type { DomainDisk } from "../src/domain-xml.js";
import type { Hypervisor } from "../src/hypervisor.js";
import { migrateFlags } from "../src/migration.js";
import { diskCopies, parseMounts, StorageClassifier } from "../src/storage.js";

const hv = { flags: MigrateFlags } as unknown as Hypervisor;
const F = MigrateFlags;
const opts = (o: Partial<MigrateOptions> = {}) => MigrateOptions.parse(o);
const copy = { target: "vdb", path: "/var/lib/libvirt/images/d.qcow2", format: "qcow2", capacityBytes: 1 << 25, backing: null };

describe("migrate flags per strategy", () => {
  it("live: LIVE, no disk copy, no post-copy or auto-converge", () => {
    const f = migrateFlags(hv, opts(), true, false);
    expect(f & F.LIVE).toBe(F.LIVE);
    expect(f & (F.PAUSED | F.NON_SHARED_DISK | F.NON_SHARED_INC | F.POSTCOPY | F.AUTO_CONVERGE)).toBe(0);
  });

  it("pause-and-copy: not live, and the destination keeps it paused for the agent to resume (its downtime)", () => {
    const f = migrateFlags(hv, opts({ offline: true }), true, false);
    expect(f & F.LIVE).toBe(0);
    expect(f & F.PAUSED).toBe(F.PAUSED);
  });

  it("post-copy after the first pass arms POSTCOPY only where allowed; auto-converge arms AUTO_CONVERGE", () => {
    expect(migrateFlags(hv, opts({ allowPostCopy: true, postCopyAfterFirstPass: true }), true, false) & F.POSTCOPY).toBe(F.POSTCOPY);
    expect(migrateFlags(hv, opts({ allowPostCopy: false, postCopyAfterFirstPass: true }), true, false) & F.POSTCOPY).toBe(0);
    expect(migrateFlags(hv, opts({ autoConverge: true }), true, false) & F.AUTO_CONVERGE).toBe(F.AUTO_CONVERGE);
  });

  it("copies disks only when there are some to copy: whole images, or the top layer of a chain", () => {
    expect(migrateFlags(hv, opts({ copyStorage: true }), true, false) & (F.NON_SHARED_DISK | F.NON_SHARED_INC)).toBe(0);
    expect(migrateFlags(hv, opts({ copyStorage: true }), true, false, [copy]) & F.NON_SHARED_DISK).toBe(F.NON_SHARED_DISK);
    const chain = { ...copy, backing: { path: "/srv/base.qcow2", format: "qcow2" } };
    const f = migrateFlags(hv, opts({ copyStorage: true }), true, false, [copy, chain]);
    expect(f & F.NON_SHARED_INC).toBe(F.NON_SHARED_INC);
    expect(f & F.NON_SHARED_DISK).toBe(0);
  });
});

describe("disks a move copies", () => {
  const mounts = parseMounts(`/dev/sda1 / ext4 rw 0 0
nas:/export/vms /srv/vms nfs4 rw 0 0
`);
  const classifier = new StorageClassifier(["nfs4"], []);
  const peer: StorageMount[] = [{ path: "/srv/vms", fsType: "nfs4", shared: true, source: "nas:/export/vms" }];
  const disk = (target: string, path: string, over: Partial<DomainDisk> = {}): DomainDisk => ({
    target,
    path,
    local: true,
    network: false,
    cacheMode: "none",
    readOnly: false,
    device: "disk",
    sourceType: "file",
    format: "qcow2",
    backing: null,
    ...over,
  });
  const sizes = [
    { target: "vda", capacityBytes: 1 << 30, allocationBytes: 1 << 20 },
    { target: "vdb", capacityBytes: 1 << 25, allocationBytes: 1 << 24 },
  ];

  it("copies the disk on local storage with its size and format, not the one on the shared export", () => {
    const copies = diskCopies(
      [disk("vda", "/srv/vms/a.qcow2"), disk("vdb", "/var/lib/libvirt/images/b.qcow2")],
      sizes,
      classifier,
      mounts,
      peer,
    );
    expect(copies).toEqual([
      { target: "vdb", path: "/var/lib/libvirt/images/b.qcow2", format: "qcow2", capacityBytes: 1 << 25, backing: null },
    ]);
  });

  it("copies every disk to a destination without the export, and refuses what cannot be created there", () => {
    expect(diskCopies([disk("vda", "/srv/vms/a.qcow2")], sizes, classifier, mounts, []).map((c) => c.target)).toEqual(["vda"]);
    expect(() => diskCopies([disk("vdc", "/dev/sdc", { sourceType: "block" })], sizes, classifier, mounts, peer)).toThrow(
      /vdc \(\/dev\/sdc, type block\).*only image files can be copied/,
    );
    expect(() => diskCopies([disk("vdz", "/var/lib/libvirt/images/z.qcow2")], sizes, classifier, mounts, peer)).toThrow(/vdz.*no size/);
  });
});
