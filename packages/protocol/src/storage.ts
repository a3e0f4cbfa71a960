// Which of a VM's disks a move to another host must copy. One rule for the scheduler (which decides
// copy-storage from both hosts' reports) and the source agent (which checks it against its own
// mounts and the destination's report before anything moves).
import type { DiskReport, StorageMount } from "./host-report.js";

type DiskFacts = Pick<DiskReport, "path" | "shared" | "network" | "readOnly">;

/** `p` is `dir` or lies below it (path components, not string prefixes: /srv/vmsX is not under /srv/vms). */
export const pathUnder = (p: string, dir: string) => dir === "/" || p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/** The mount that holds `path` (the last, longest match, as the kernel resolves it): of a host's storage report, or of its mount table. */
export function mountHolding<M extends { path: string }>(path: string, mounts: readonly M[]): M | undefined {
  let best: M | undefined;
  for (const m of mounts) if (pathUnder(path, m.path) && (!best || m.path.length >= best.path.length)) best = m;
  return best;
}

/**
 * A disk is on storage both hosts share when the mount holding its path is shared on each and the
 * two are one filesystem: the same type and, where both reports name it, the same source (the NFS
 * export, the Ceph monitors, the device of the lab's common directory). A network disk (rbd, iscsi)
 * is reached the same way from every host.
 */
export function diskSharedWith(disk: DiskFacts, here: readonly StorageMount[], there: readonly StorageMount[]): boolean {
  if (disk.network) return true;
  if (disk.path === null || !disk.shared) return false;
  const a = mountHolding(disk.path, here);
  const b = mountHolding(disk.path, there);
  if (!a?.shared || !b?.shared || a.fsType !== b.fsType) return false;
  return a.source === undefined || b.source === undefined || a.source === "" || b.source === "" || a.source === b.source;
}

/**
 * The disks a move from the host with mounts `here` to the one with `there` must copy: writable
 * images not on storage both share. Read-only media (ISOs) are never copied: the destination needs
 * its own, as for a shared-storage move.
 */
export function disksToCopy<D extends DiskFacts>(disks: readonly D[], here: readonly StorageMount[], there: readonly StorageMount[]): D[] {
  return disks.filter((d) => d.path !== null && !d.readOnly && !diskSharedWith(d, here, there));
}

/**
 * What a move of a VM copies whatever its destination: the bytes held by its writable disks on no
 * shared storage (allocation, else the virtual size; 0 while unmeasured). The planner charges them.
 */
export function localDiskBytes(disks: readonly (DiskFacts & Pick<DiskReport, "allocationBytes" | "capacityBytes">)[]): number {
  let n = 0;
  for (const d of disks) if (d.path !== null && !d.readOnly && !d.network && !d.shared) n += d.allocationBytes ?? d.capacityBytes ?? 0;
  return n;
}
