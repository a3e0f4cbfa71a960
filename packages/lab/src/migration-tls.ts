// The lab's migration stream runs over QEMU's TLS (the agent's VIR_MIGRATE_TLS): a lab CA, and per
// host the files QEMU reads from qemu.conf's migrate_tls_x509_cert_dir. Made with the bus's openssl
// CA code, so the lab has one way to make certificates; keys 0600.
import { existsSync } from "node:fs";
import { copyFile, mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { ensureCa, issueCert } from "@drover/bus";
import { MIGRATION_TLS_FILES } from "@drover/protocol";

/** The CA of every host's migration certificates, shared by the lab's hosts. */
export function migrationCaDir(stateDir: string): string {
  return join(stateDir, "migration-ca");
}

// Hosts start in parallel in one process and share one CA; openssl keeps the CA's serial number in
// a file beside it, so issuing runs one host at a time per CA.
const queues = new Map<string, Promise<unknown>>();

function oneAtATime<T>(key: string, job: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(job, job);
  queues.set(
    key,
    next.catch(() => undefined),
  );
  return next;
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
  await oneAtATime(caDir, async () => {
    await mkdir(caDir, { recursive: true, mode: 0o700 });
    const ca = await ensureCa(caDir, "drover lab migration CA");
    await mkdir(certDir, { recursive: true });
    for (const role of ["server", "client"] as const) {
      // issueCert names a pair <base>.pem + <base>.key; QEMU wants <role>-cert.pem + <role>-key.pem.
      const pair = await issueCert(certDir, ca, `${role}-cert`, { commonName: host.name, names: [host.address, host.name], usage: role });
      await rename(pair.keyFile, join(certDir, `${role}-key.pem`));
    }
    await copyFile(ca.certFile, join(certDir, "ca-cert.pem"));
  });
}
