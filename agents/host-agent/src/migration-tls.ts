// Whether a host is set up to migrate over QEMU's TLS (VIR_MIGRATE_TLS): its own cert dir, checked
// here, and a peer's, which only the peer's agent can see and reports (HostReport.migrationTls).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { MIGRATION_TLS_FILES, type HostReport, type MigrationTlsReport } from "@drover/protocol";

type TlsFile = (typeof MIGRATION_TLS_FILES)[number];

/**
 * What keeps `dir` from serving QEMU as either end of a TLS migration, or null when nothing does:
 * every file present and readable, certificates parsable, in date and issued by ca-cert.pem, each
 * key the one of its certificate.
 */
export async function certDirProblem(dir: string, nowMs = Date.now()): Promise<string | null> {
  const text = new Map<TlsFile, string>();
  const missing: string[] = [];
  const unreadable: string[] = [];
  for (const f of MIGRATION_TLS_FILES) {
    try {
      text.set(f, await readFile(join(dir, f), "utf8"));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") missing.push(f);
      else unreadable.push(`${f} (${code ?? (e as Error).message})`);
    }
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`no ${missing.join(", ")} in ${dir}`);
  if (unreadable.length) problems.push(`cannot read ${unreadable.join(", ")} in ${dir}`);
  if (problems.length) return problems.join("; ");

  const cert = (f: TlsFile): X509Certificate | string => {
    try {
      return new X509Certificate(text.get(f) as string);
    } catch {
      return `${f} in ${dir} is not a PEM certificate`;
    }
  };
  const dated = (f: TlsFile, c: X509Certificate) => {
    if (Date.parse(c.validFrom) > nowMs) problems.push(`${f} in ${dir} is not valid before ${c.validFrom}`);
    if (Date.parse(c.validTo) < nowMs) problems.push(`${f} in ${dir} expired on ${c.validTo}`);
  };
  const ca = cert("ca-cert.pem");
  if (typeof ca === "string") return ca;
  dated("ca-cert.pem", ca);
  for (const role of ["server", "client"] as const) {
    const cf = `${role}-cert.pem` as const;
    const kf = `${role}-key.pem` as const;
    const c = cert(cf);
    if (typeof c === "string") {
      problems.push(c);
      continue;
    }
    dated(cf, c);
    if (!c.checkIssued(ca) || !c.verify(ca.publicKey)) problems.push(`${cf} in ${dir} is not issued by its ca-cert.pem`);
    try {
      if (!c.checkPrivateKey(createPrivateKey(text.get(kf) as string))) problems.push(`${kf} in ${dir} is not the key of ${cf}`);
    } catch {
      problems.push(`${kf} in ${dir} is not a PEM private key`);
    }
  }
  return problems.length ? problems.join("; ") : null;
}

/** A verdict stands while the files are unchanged, and for at most this long (certificates expire). */
const RECHECK_MS = 60_000;
const verdicts = new Map<string, { stamp: string; atMs: number; problem: string | null }>();

/** The files as stat sees them: a changed, added or removed file changes the stamp. */
async function dirStamp(dir: string): Promise<string> {
  const parts = await Promise.all(
    MIGRATION_TLS_FILES.map((f) =>
      stat(join(dir, f)).then(
        (st) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`,
        (e: NodeJS.ErrnoException) => e.code ?? "error",
      ),
    ),
  );
  return parts.join("|");
}

/**
 * This host's side, for its report and its preflight: TLS on or off, and what is wrong with its cert
 * dir. Every report asks; the certificates are parsed and verified again only when a file changed.
 */
export async function migrationTlsReport(certDir: string | null, nowMs = Date.now()): Promise<MigrationTlsReport> {
  if (certDir === null) return { enabled: false, problem: null };
  const stamp = await dirStamp(certDir);
  const seen = verdicts.get(certDir);
  if (seen && seen.stamp === stamp && nowMs - seen.atMs < RECHECK_MS) return { enabled: true, problem: seen.problem };
  const problem = await certDirProblem(certDir, nowMs);
  verdicts.set(certDir, { stamp, atMs: nowMs, problem });
  return { enabled: true, problem };
}

/**
 * The preflight verdict: both ends migrate with TLS or both without, and with TLS each end's cert
 * dir is in order. `self.tls` is this host's own check; the destination's comes from its report.
 */
export function migrationTlsVerdict(
  self: { host: string; tls: MigrationTlsReport },
  dest: { host: string; report: Pick<HostReport, "migrationTls"> | null },
): { ok: boolean; reason: string } {
  const peer = dest.report?.migrationTls;
  if (!self.tls.enabled) {
    if (peer?.enabled) {
      return { ok: false, reason: `${dest.host} migrates over TLS but ${self.host} does not: set migration.tls the same on both` };
    }
    const unknown = !dest.report ? ` (${dest.host}'s setting unknown: no report from its agent)` : "";
    return { ok: true, reason: `TLS off on ${self.host}: the migration stream is not encrypted${unknown}` };
  }
  if (!dest.report) {
    return { ok: false, reason: `no report from ${dest.host}'s agent arrived, so its TLS set-up cannot be verified` };
  }
  if (!peer) {
    return { ok: false, reason: `${dest.host}'s agent does not report its migration TLS set-up (an agent older than this check)` };
  }
  if (!peer.enabled) {
    return { ok: false, reason: `${self.host} migrates over TLS but ${dest.host} does not: set migration.tls the same on both` };
  }
  const problems = [
    ...(self.tls.problem ? [`${self.host}: ${self.tls.problem}`] : []),
    ...(peer.problem ? [`${dest.host}: ${peer.problem}`] : []),
  ];
  if (problems.length) return { ok: false, reason: problems.join("; ") };
  return { ok: true, reason: `TLS on both ends: ${self.host} and ${dest.host} have their CA, server and client certificates in order` };
}
