// A small private CA for the bus, made with the openssl CLI (Debian package openssl): the
// nats-server's certificate and one client certificate per identity. Keys are P-256 (fast to
// make), written 0600; only file paths ever reach openssl's command line.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const DAYS = "825";

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args, { timeout: 30_000 });
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: string };
    const why = err.code === "ENOENT" ? "openssl is not installed (apt-get install openssl)" : (err.stderr?.trim() ?? err.message);
    throw new Error(`openssl ${args[0] ?? ""} failed: ${why}`, { cause: e });
  }
}

const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** `<dir>/ca.pem` + `<dir>/ca.key`, made once; later calls reuse them. */
export async function ensureCa(dir: string, name: string): Promise<CertFiles> {
  const ca = { certFile: join(dir, "ca.pem"), keyFile: join(dir, "ca.key") };
  if (existsSync(ca.certFile) && existsSync(ca.keyFile)) return ca;
  await openssl(["req", "-x509", ...keyArgs, "-days", DAYS, "-subj", `/CN=${name}`, "-keyout", ca.keyFile, "-out", ca.certFile]);
  await chmod(ca.keyFile, 0o600);
  return ca;
}

/**
 * `<dir>/<base>.pem` + `.key` signed by the CA. `names` go into the subjectAltName (IPs as IP
 * entries); a server certificate also names localhost, which the NATS client checks for an IP URL.
 */
export async function issueCert(
  dir: string,
  ca: CertFiles,
  base: string,
  o: { commonName: string; names?: string[]; usage: "server" | "client" },
): Promise<CertFiles> {
  const out = { certFile: join(dir, `${base}.pem`), keyFile: join(dir, `${base}.key`) };
  const csr = join(dir, `${base}.csr`);
  const ext = join(dir, `${base}.ext`);
  const names = o.usage === "server" ? [...(o.names ?? []), "localhost"] : (o.names ?? []);
  const san = [...new Set(names)].map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  await writeFile(
    ext,
    [`extendedKeyUsage=${o.usage === "server" ? "serverAuth" : "clientAuth"}`, ...(san ? [`subjectAltName=${san}`] : [])].join("\n") + "\n",
  );
  try {
    await openssl(["req", ...keyArgs, "-subj", `/CN=${o.commonName}`, "-keyout", out.keyFile, "-out", csr]);
    await chmod(out.keyFile, 0o600);
    await openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      // A random serial (RFC 5280's advice) instead of a serial file beside the CA: certificates
      // of one CA can then be issued in parallel.
      "-set_serial",
      `0x${randomBytes(16).toString("hex")}`,
      "-days",
      DAYS,
      "-extfile",
      ext,
      "-out",
      out.certFile,
    ]);
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
  return out;
}
