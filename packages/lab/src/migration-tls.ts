// The lab's migration stream runs over QEMU's TLS (the agent's VIR_MIGRATE_TLS): a lab CA, and per
// host the files QEMU reads from qemu.conf's migrate_tls_x509_cert_dir. Made with the bus's openssl
// CA code, so the lab has one way to make certificates; keys 0600.
import { existsSync } from "node:fs";
import { copyFile, mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { ensureCa, issueCert, type CertFiles } from "@drover/bus";
import { MIGRATION_TLS_FILES } from "@drover/protocol";

/** The CA of every host's migration certificates, shared by the lab's hosts. */
export function migrationCaDir(stateDir: string): string {
  return join(stateDir, "migration-ca");
}

// Hosts start in parallel in one process and share one CA: while the first makes it, the others
// wait for that instead of making their own; once made, ensureCa finds it on disk.
const cas = new Map<string, Promise<CertFiles>>();

function sharedCa(caDir: string): Promise<CertFiles> {
  let ca = cas.get(caDir);
  if (!ca) {
    ca = mkdir(caDir, { recursive: true, mode: 0o700 }).then(() => ensureCa(caDir, "drover lab migration CA"));
    cas.set(caDir, ca);
    void ca.finally(() => cas.delete(caDir)).catch(() => undefined);
  }
  return ca;
}

export function hasMigrationCerts(certDir: string): boolean {
  return MIGRATION_TLS_FILES.every((f) => existsSync(join(certDir, f)));
}

/**
 * Fills `certDir` with ca-cert.pem and a server and a client pair whose subjectAltName is the host's
 * migration address (QEMU's client checks the destination's certificate against it), unless all
 * five files are already there.
 */
export async function issueMigrationCerts(caDir: string, certDir: string, host: { name: string; address: string }): Promise<void> {
  if (hasMigrationCerts(certDir)) return;
  const ca = await sharedCa(caDir);
  await mkdir(certDir, { recursive: true });
  await Promise.all(
    (["server", "client"] as const).map(async (role) => {
      // issueCert names a pair <base>.pem + <base>.key; QEMU wants <role>-cert.pem + <role>-key.pem.
      const pair = await issueCert(certDir, ca, `${role}-cert`, { commonName: host.name, names: [host.address, host.name], usage: role });
      await rename(pair.keyFile, join(certDir, `${role}-key.pem`));
    }),
  );
  await copyFile(ca.certFile, join(certDir, "ca-cert.pem"));
}
