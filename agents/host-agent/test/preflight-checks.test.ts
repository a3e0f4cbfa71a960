// The preflight's own checks on real inputs: version rules with real libvirt/QEMU version numbers (the
// lab's hosts all run one version, so the lab cannot show a difference), the host CPU as libvirt's
// capabilities give it, and the migration-port probe against real sockets.
import { createServer, type AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { REFUSED_PORT } from "@drover/bus/testing";
import { silentLogger } from "@drover/protocol";
import { cpuDifference, hostCpuOf, type LibvirtdFacts } from "../src/hypervisor-facts.js";
import { MigrationPortListener } from "../src/migration-ports.js";
import { destinationSpace, probePort, versionCheck } from "../src/preflight.js";

const CAPS = `<capabilities>
  <host>
    <uuid>4c4c4544-0042-3510-8052-b4c04f4b4e32</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Server-IBRS</model>
      <vendor>Intel</vendor>
      <microcode version='33554509'/>
      <topology sockets='1' dies='1' cores='2' threads='1'/>
      <feature name='vmx'/>
      <feature name='ss'/>
      <feature name='avx512f'/>
      <pages unit='KiB' size='4'/>
    </cpu>
  </host>
</capabilities>`;

const facts = (libvirt: string, qemu: string): LibvirtdFacts => ({
  hostUuid: null,
  hypervisor: { libvirt, qemu, cpu: hostCpuOf(CAPS) },
});

describe("hypervisor-version check", () => {
  it("refuses an older libvirt or QEMU on the destination, naming both versions", () => {
    // Debian 12's libvirt 9.0.0 / QEMU 7.2.22 moving to Ubuntu 22.04's libvirt 8.0.0 / QEMU 6.2.0.
    const [check, ok, reason] = versionCheck("h1", facts("9.0.0", "7.2.22"), "h2", facts("8.0.0", "6.2.0"), false);
    expect([check, ok]).toEqual(["hypervisor-version", false]);
    expect(reason).toBe(
      "h2 runs libvirt 8.0.0, older than libvirt 9.0.0 on h1; h2 runs QEMU 6.2.0, older than QEMU 7.2.22 on h1; " +
        "a guest moves only to the same or a newer libvirt and QEMU",
    );
    // Only QEMU older (a point release): still refused.
    expect(versionCheck("h1", facts("9.0.0", "7.2.22"), "h2", facts("9.0.0", "7.2.0"), false)[2]).toMatch(
      /^h2 runs QEMU 7\.2\.0, older than QEMU 7\.2\.22 on h1;/,
    );
  });

  it("compares versions as numbers, passes same or newer, and lets the cluster allow older", () => {
    expect(versionCheck("h1", facts("9.0.0", "7.2.22"), "h2", facts("10.0.0", "8.2.1"), false)).toEqual([
      "hypervisor-version",
      true,
      "h2 runs libvirt 10.0.0, QEMU 8.2.1, not older than h1's libvirt 9.0.0, QEMU 7.2.22",
    ]);
    expect(versionCheck("h1", facts("9.0.0", "7.2.22"), "h2", facts("9.0.0", "7.2.22"), false)[1]).toBe(true);
    const allowed = versionCheck("h1", facts("9.0.0", "7.2.22"), "h2", facts("8.0.0", "7.2.22"), true);
    expect(allowed[1]).toBe(true);
    expect(allowed[2]).toMatch(/libvirt 8\.0\.0, older than libvirt 9\.0\.0 on h1; allowed by the cluster/);
    expect(versionCheck("h1", null, "h2", facts("9.0.0", "7.2.22"), false)[1]).toBe(false);
  });
});

describe("host CPU", () => {
  it("is read from libvirt's capabilities, features sorted", () => {
    expect(hostCpuOf(CAPS)).toEqual({ arch: "x86_64", model: "Skylake-Server-IBRS", vendor: "Intel", features: ["avx512f", "ss", "vmx"] });
    expect(hostCpuOf("not xml <")).toEqual({ arch: "", model: "", vendor: "", features: [] });
  });

  it("host-passthrough needs identical CPUs: a differing model or feature is named with its host", () => {
    const a = hostCpuOf(CAPS);
    expect(cpuDifference({ host: "h1", cpu: a }, { host: "h2", cpu: { ...a } })).toBeNull();
    const b = { ...a, model: "Cascadelake-Server", features: ["ss", "vmx", "avx512vnni"].sort() };
    expect(cpuDifference({ host: "h1", cpu: a }, { host: "h2", cpu: b })).toBe(
      "model Skylake-Server-IBRS on h1, Cascadelake-Server on h2; feature(s) avx512f only on h1; feature(s) avx512vnni only on h2",
    );
  });
});

describe("migration-ports probe", () => {
  it("passes only where a listener accepts; refused fails", async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    expect(await probePort("127.0.0.1", port, 2000)).toEqual({ ok: true, detail: "a listener accepted" });
    await new Promise((r) => server.close(r));
    expect(await probePort("127.0.0.1", REFUSED_PORT, 2000)).toEqual({
      ok: false,
      detail: "refused: nothing listens there (or a firewall rejects it)",
    });
  });

  it("the agent listens on its range's last port, and binds it once a port in use is free again", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    const l = new MigrationPortListener("127.0.0.1", { min: port - 3, max: port }, silentLogger);
    try {
      expect(l.report()).toEqual({ min: port - 3, max: port, listener: port });
      await l.ensure(); // in use: not bound, tried again later
      await new Promise((r) => taken.close(r));
      expect((await probePort("127.0.0.1", port, 2000)).ok).toBe(false);
      await l.ensure();
      expect((await probePort("127.0.0.1", port, 2000)).ok).toBe(true);
    } finally {
      await l.close();
    }
    expect((await probePort("127.0.0.1", port, 2000)).ok).toBe(false);
  });
});

describe("destination-space check (copy-storage)", () => {
  const GiB = 1024 ** 3;
  const storage = [
    { path: "/", fsType: "ext4", shared: false, freeBytes: 50 * GiB, sizeBytes: 100 * GiB },
    { path: "/var/lib/libvirt/images", fsType: "xfs", shared: false, freeBytes: 12 * GiB, sizeBytes: 100 * GiB },
    { path: "/var/lib/libvirt/images/nfs", fsType: "nfs4", shared: true },
  ];
  const disk = (target: string, gib: number, dir = "/var/lib/libvirt/images") => ({
    target,
    path: `${dir}/vm1-${target}.qcow2`,
    bytes: gib * GiB,
  });

  it("passes when each filesystem the copies land on keeps its reserve, naming what each needs", () => {
    const v = destinationSpace([disk("vda", 4), disk("vdb", 2), disk("vdc", 10, "/srv")], storage, "h2");
    expect(v).toEqual({
      ok: true,
      reason:
        "vda, vdb need 6144 MiB on h2's /var/lib/libvirt/images: 12288 MiB free, 5120 MiB of it kept; vdc need 10240 MiB on h2's /: 51200 MiB free, 5120 MiB of it kept",
    });
  });

  it("fails when the copies together would eat into the reserve of the filesystem they share, naming it", () => {
    const v = destinationSpace([disk("vda", 4), disk("vdb", 4)], storage, "h2");
    expect(v).toEqual({ ok: false, reason: "vda, vdb need 8192 MiB on h2's /var/lib/libvirt/images: 12288 MiB free, 5120 MiB of it kept" });
  });

  it("fails when the destination does not say its space there (an older agent, or only a shared mount holds the path)", () => {
    const old = storage.map(({ path, fsType, shared }) => ({ path, fsType, shared }));
    expect(destinationSpace([disk("vda", 1)], old, "h2")).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^h2 reports no free space where disk vda/),
    });
    expect(destinationSpace([disk("vda", 1)], [storage[2]!], "h2").ok).toBe(false);
  });
});
