// A copy-storage move's destination images, made before libvirt is asked, through the agent's
// Hypervisor seam (the lab cases in test/src/faults-copy-storage.lab.test.ts drive real libvirtds;
// the failures here, a full disk under the agent's journal, cannot be made there on cue).
import { describe, expect, it } from "vitest";
import { MigrateFlags } from "@drover/libvirt";
import { MigrateCommand, silentLogger } from "@drover/protocol";
import type { HvConnection, HvDomain, Hypervisor, ImageSpec } from "../src/hypervisor.js";
import type { LeftoverImages } from "../src/leftover-images.js";
import { MigrationRun } from "../src/migration.js";

// A closed port on loopback: a failed move's reachability probe is refused at once.
const DEST = { host: "h2", uri: "qemu+tcp://127.0.0.1:1/system" };
const disk = (target: string) => ({
  target,
  path: `/var/lib/libvirt/images/vm1-${target}.qcow2`,
  format: "qcow2",
  capacityBytes: 1 << 25,
  backing: null,
});

function setup(journal: (path: string) => void, refuse: string | null = null) {
  const created: string[] = [];
  const discarded: string[][] = [];
  const dest = {
    uri: DEST.uri,
    createImage: (s: ImageSpec) => {
      if (s.path === refuse) return Promise.reject(new Error(`storage volume '${s.path}' exists already`));
      created.push(s.path);
      return Promise.resolve();
    },
    lookup: () => Promise.resolve(null),
    close: () => Promise.resolve(),
  } as unknown as HvConnection;
  const dom = {
    uuid: "00000000-0000-4000-8000-000000000001",
    name: "vm1",
    state: () => Promise.resolve("running"),
    xml: () => Promise.reject(new Error("not needed")),
    jobStats: () => Promise.resolve(null),
    free: () => undefined,
  } as unknown as HvDomain;
  const cmd = MigrateCommand.parse({
    v: 1,
    id: "c1",
    issuedAtMs: 1,
    kind: "migrate",
    migrationId: "m1",
    vm: "vm1",
    destination: DEST,
    options: {},
  });
  const run = new MigrationRun(
    cmd,
    dom,
    {
      hv: { flags: MigrateFlags, open: () => Promise.resolve(dest) } as unknown as Hypervisor,
      host: "h1",
      log: silentLogger,
      callTimeoutMs: 1000,
      tls: false,
      progress: () => undefined,
      leftovers: {
        sweep: () => Promise.resolve(),
        // As LeftoverImages does, an empty list is nothing to discard.
        discard: (_d: unknown, _vm: unknown, paths: readonly string[]) => (
          paths.length > 0 && discarded.push([...paths]),
          Promise.resolve()
        ),
      } as unknown as LeftoverImages,
      imageCreated: journal,
    },
    [disk("vda"), disk("vdb")],
  );
  return { run, created, discarded };
}

describe("a copy-storage move's destination images", () => {
  it("a journal that cannot record an image stops the move, naming this host's journal, not the destination; the images go", async () => {
    const { run, created, discarded } = setup((path) => {
      if (path.endsWith("vdb.qcow2")) throw new Error("ENOSPC: no space left on device, write '/var/lib/drover-agent/commands.json.tmp'");
    });
    const r = await run.run();
    expect(created).toEqual(["/var/lib/libvirt/images/vm1-vda.qcow2", "/var/lib/libvirt/images/vm1-vdb.qcow2"]);
    expect(discarded).toEqual([created]);
    expect(r).toMatchObject({ outcome: "failed", vmRunningOn: "h1" });
    expect(r.error?.code).toBe("internal");
    expect(r.error?.message).toMatch(
      /disk vdb: created \/var\/lib\/libvirt\/images\/vm1-vdb\.qcow2 .* on h2 but could not journal it on h1 \(ENOSPC/,
    );
  });

  it("an image the destination refuses stops the move naming it there; the ones made before it go", async () => {
    const journalled: string[] = [];
    const { run, created, discarded } = setup((path) => journalled.push(path), "/var/lib/libvirt/images/vm1-vdb.qcow2");
    const r = await run.run();
    expect(created).toEqual(["/var/lib/libvirt/images/vm1-vda.qcow2"]);
    expect(journalled).toEqual(created);
    expect(discarded).toEqual([created]);
    expect(r.error?.code).toBe("destination-image");
    expect(r.error?.message).toMatch(
      /disk vdb: could not create \/var\/lib\/libvirt\/images\/vm1-vdb\.qcow2 \(qcow2, 33554432 bytes\) on h2: .*exists already/,
    );
  });
});
