import { copyFile, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCa, issueCert } from "@drover/bus";
import { MigrateOptions, type HostReport } from "@drover/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config.js";
import type { Hypervisor } from "../src/hypervisor.js";
import { migrateFlags } from "../src/migration.js";
import { certDirProblem, migrationTlsReport, migrationTlsVerdict } from "../src/migration-tls.js";

/** A cert dir as QEMU wants it, made with real openssl by the bus's CA code. */
async function certDir(dir: string, caDir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await mkdir(caDir, { recursive: true });
  const ca = await ensureCa(caDir, "test migration CA");
  for (const role of ["server", "client"] as const) {
    const pair = await issueCert(dir, ca, `${role}-cert`, { commonName: "h1", names: ["127.0.23.1"], usage: role });
    await rename(pair.keyFile, join(dir, `${role}-key.pem`));
  }
  await copyFile(ca.certFile, join(dir, "ca-cert.pem"));
  return dir;
}

describe("a host's migration cert dir", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "agent-tls-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("is in order with the five files from one CA", async () => {
    const dir = await certDir(join(tmp, "good"), join(tmp, "ca"));
    expect(await certDirProblem(dir)).toBeNull();
  });

  it("the report's verdict follows a changed file at once, and the clock within a minute", async () => {
    const dir = await certDir(join(tmp, "watched"), join(tmp, "ca"));
    expect(await migrationTlsReport(dir)).toEqual({ enabled: true, problem: null });
    await rename(join(dir, "server-cert.pem"), join(dir, "aside.pem"));
    expect(await migrationTlsReport(dir)).toEqual({ enabled: true, problem: `no server-cert.pem in ${dir}` });
    await rename(join(dir, "aside.pem"), join(dir, "server-cert.pem"));
    expect(await migrationTlsReport(dir)).toEqual({ enabled: true, problem: null });
    // Same files, a clock past the certificates' end: checked again, not served from before.
    expect((await migrationTlsReport(dir, Date.UTC(2100, 0, 1))).problem).toMatch(/expired on/);
    expect(await migrationTlsReport(null)).toEqual({ enabled: false, problem: null });
  });

  it("names every missing file and the dir", async () => {
    const dir = await certDir(join(tmp, "partial"), join(tmp, "ca"));
    await rm(join(dir, "server-cert.pem"));
    await rm(join(dir, "client-key.pem"));
    expect(await certDirProblem(dir)).toBe(`no server-cert.pem, client-key.pem in ${dir}`);
    expect(await certDirProblem(join(tmp, "absent"))).toMatch(
      /^no ca-cert\.pem, server-cert\.pem, server-key\.pem, client-cert\.pem, client-key\.pem in /,
    );
  });

  it("finds a key that is not its certificate's, and a certificate from another CA", async () => {
    const dir = await certDir(join(tmp, "mixed"), join(tmp, "ca"));
    const other = await certDir(join(tmp, "other"), join(tmp, "other-ca"));
    await copyFile(join(other, "client-key.pem"), join(dir, "client-key.pem"));
    await copyFile(join(other, "server-cert.pem"), join(dir, "server-cert.pem"));
    const problem = await certDirProblem(dir);
    expect(problem).toContain(`server-cert.pem in ${dir} is not issued by its ca-cert.pem`);
    expect(problem).toContain(`client-key.pem in ${dir} is not the key of client-cert.pem`);
    // server-key.pem still belongs to the old server certificate.
    expect(problem).toContain("server-key.pem");
  });

  it("finds certificates out of date", async () => {
    const dir = await certDir(join(tmp, "dated"), join(tmp, "ca"));
    const in2100 = Date.UTC(2100, 0, 1);
    expect(await certDirProblem(dir, in2100)).toMatch(
      new RegExp(`ca-cert\\.pem in ${dir} expired on .*server-cert\\.pem in ${dir} expired`),
    );
    expect(await certDirProblem(dir, Date.UTC(2000, 0, 1))).toMatch(/ca-cert\.pem in .* is not valid before /);
  });

  it("finds a file that is not PEM", async () => {
    const dir = await certDir(join(tmp, "garbled"), join(tmp, "ca"));
    await copyFile(join(dir, "client-key.pem"), join(dir, "client-cert.pem"));
    expect(await certDirProblem(dir)).toBe(`client-cert.pem in ${dir} is not a PEM certificate`);
  });
});

describe("preflight's migration-tls verdict", () => {
  const report = (migrationTls?: HostReport["migrationTls"]) => ({ ...(migrationTls ? { migrationTls } : {}) }) as HostReport;
  const on = { enabled: true, problem: null };
  const off = { enabled: false, problem: null };
  const h1 = (tls: { enabled: boolean; problem: string | null }) => ({ host: "h1", tls });
  const h2 = (r: HostReport | null) => ({ host: "h2", report: r });

  it("passes when both ends agree and are in order", () => {
    expect(migrationTlsVerdict(h1(on), h2(report(on)))).toMatchObject({ ok: true, reason: expect.stringMatching(/TLS on both ends/) });
    expect(migrationTlsVerdict(h1(off), h2(report(off)))).toMatchObject({ ok: true, reason: expect.stringMatching(/TLS off on h1/) });
    // An agent older than the field never migrates over TLS, so a TLS-off source is fine with it.
    expect(migrationTlsVerdict(h1(off), h2(report()))).toMatchObject({ ok: true });
  });

  it("names the host that is not set up and what it lacks", () => {
    const v = migrationTlsVerdict(h1(on), h2(report({ enabled: true, problem: "no server-cert.pem in /etc/pki/qemu" })));
    expect(v).toEqual({ ok: false, reason: "h2: no server-cert.pem in /etc/pki/qemu" });
    const both = migrationTlsVerdict(
      h1({ enabled: true, problem: "no client-cert.pem in /a" }),
      h2(report({ enabled: true, problem: "no ca-cert.pem in /b" })),
    );
    expect(both).toEqual({ ok: false, reason: "h1: no client-cert.pem in /a; h2: no ca-cert.pem in /b" });
  });

  it("fails when the ends disagree, either way round", () => {
    expect(migrationTlsVerdict(h1(on), h2(report(off)))).toEqual({
      ok: false,
      reason: "h1 migrates over TLS but h2 does not: set migration.tls the same on both",
    });
    expect(migrationTlsVerdict(h1(off), h2(report(on)))).toEqual({
      ok: false,
      reason: "h2 migrates over TLS but h1 does not: set migration.tls the same on both",
    });
  });

  it("with TLS on, fails when the destination cannot be verified", () => {
    expect(migrationTlsVerdict(h1(on), h2(null)).reason).toMatch(/no report from h2's agent/);
    expect(migrationTlsVerdict(h1(on), h2(report())).reason).toMatch(/h2's agent does not report its migration TLS set-up/);
  });
});

describe("migration.tls", () => {
  const minimal = { cluster: "lab", host: "h1", nats: { servers: ["nats://127.0.0.1:4222"] } };
  // virDomainMigrateFlags values (libvirt-domain.h); VIR_MIGRATE_TLS = 1 << 16.
  const flags = { LIVE: 1, PEER2PEER: 2, PERSIST_DEST: 8, UNDEFINE_SOURCE: 16, NON_SHARED_DISK: 64, UNSAFE: 512 };
  const hv = { flags: { ...flags, OFFLINE: 1024, ABORT_ON_ERROR: 4096, AUTO_CONVERGE: 8192, POSTCOPY: 32768, TLS: 65536 } } as Hypervisor;
  const options = MigrateOptions.parse({});

  it("is off by default and on from the config or DROVER_MIGRATION_TLS", () => {
    expect(resolveConfig(minimal).migration.tls).toBeUndefined();
    expect(resolveConfig({ ...minimal, migration: { tls: true, tlsCertDir: "/srv/pki" } }).migration).toMatchObject({
      tls: true,
      tlsCertDir: "/srv/pki",
    });
    expect(resolveConfig(minimal, { DROVER_MIGRATION_TLS: "true" }).migration.tls).toBe(true);
    expect(() => resolveConfig({ ...minimal, migration: { tlsCertDir: "pki" } })).toThrow(
      /migration\.tlsCertDir: must be an absolute path/,
    );
  });

  it("adds VIR_MIGRATE_TLS to a running VM's migration, not to a shut-off VM's", () => {
    expect(migrateFlags(hv, options, true, true) & 65536).toBe(65536);
    expect(migrateFlags(hv, options, true, false) & 65536).toBe(0);
    expect(migrateFlags(hv, options, false, true) & 65536).toBe(0);
  });
});
