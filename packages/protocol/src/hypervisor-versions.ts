/** The versions a host reports (`HypervisorFacts`' libvirt and qemu). */
export interface HypervisorVersions {
  libvirt: string;
  qemu: string;
}

/** Dotted versions compared part by part as numbers ("9.0.0" < "10.0.0"); a missing part counts as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * The one rule on versions (the RHEL chapter's compatibility table): a guest moves only to a host
 * whose libvirt and QEMU are each at least the source's, since an older QEMU may not accept the
 * newer one's migration stream or machine type. Returns why not, naming both versions, or null.
 */
export function olderHypervisor(
  source: { host: string; versions: HypervisorVersions },
  destination: { host: string; versions: HypervisorVersions },
): string | null {
  const older = (["libvirt", "qemu"] as const).filter((k) => compareVersions(destination.versions[k], source.versions[k]) < 0);
  if (older.length === 0) return null;
  const label = { libvirt: "libvirt", qemu: "QEMU" };
  return older
    .map(
      (k) =>
        `${destination.host} runs ${label[k]} ${destination.versions[k]}, older than ${label[k]} ${source.versions[k]} on ${source.host}`,
    )
    .join("; ");
}
