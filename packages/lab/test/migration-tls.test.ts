import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATION_TLS_FILES } from "@drover/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qemuConf } from "../src/host-config.js";
import { hasMigrationCerts, issueMigrationCerts } from "../src/migration-tls.js";

describe("lab migration certificates", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lab-tls-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("gives each host the five files QEMU reads, from one CA, naming the host's address; keys 0600", async () => {
    const ca = join(tmp, "ca");
    const hosts = [
      { name: "h1", address: "127.0.23.1", dir: join(tmp, "h1") },
      { name: "h2", address: "127.0.23.2", dir: join(tmp, "h2") },
    ];
    // In parallel, as Lab.start starts its hosts.
    await Promise.all(hosts.map((h) => issueMigrationCerts(ca, h.dir, h)));
    const caPem = await readFile(join(ca, "ca.pem"), "utf8");
    for (const h of hosts) {
      expect(hasMigrationCerts(h.dir)).toBe(true);
      expect(await readFile(join(h.dir, "ca-cert.pem"), "utf8")).toBe(caPem);
      const caCert = new X509Certificate(caPem);
      for (const role of ["server", "client"]) {
        const cert = new X509Certificate(await readFile(join(h.dir, `${role}-cert.pem`)));
        expect(cert.checkIssued(caCert) && cert.verify(caCert.publicKey)).toBe(true);
        expect(cert.checkIP(h.address)).toBe(h.address);
        expect((await stat(join(h.dir, `${role}-key.pem`))).mode & 0o777).toBe(0o600);
      }
    }
    // Two certificates of one CA never share a serial number.
    const serials = await Promise.all(
      hosts.flatMap((h) =>
        ["server", "client"].map(async (r) => new X509Certificate(await readFile(join(h.dir, `${r}-cert.pem`))).serialNumber),
      ),
    );
    expect(new Set(serials).size).toBe(4);
  });

  it("keeps a complete dir as it is", async () => {
    const dir = join(tmp, "h1");
    const before = await readFile(join(dir, "server-cert.pem"), "utf8");
    await issueMigrationCerts(join(tmp, "ca"), dir, { name: "h1", address: "127.0.23.1" });
    expect(await readFile(join(dir, "server-cert.pem"), "utf8")).toBe(before);
    expect(hasMigrationCerts(join(tmp, "nothing-here"))).toBe(false);
    expect(MIGRATION_TLS_FILES).toHaveLength(5);
  });

  it("names the cert dir in qemu.conf with peer verification on", () => {
    const conf = qemuConf({
      address: "127.0.23.1",
      hostUuid: "00000000-0000-4000-8000-000000000001",
      migrationPortMin: 17000,
      migrationPortMax: 17010,
      libvirtdPort: 16509,
      migrationTlsDir: "/lab/hosts/h1/pki/qemu",
    });
    expect(conf).toContain('migrate_tls_x509_cert_dir = "/lab/hosts/h1/pki/qemu"\nmigrate_tls_x509_verify = 1\n');
  });
});
