import { readFile, statfs } from "node:fs/promises";
import { disksToCopy, mountHolding, pathUnder, type StorageMount } from "@drover/protocol";
import type { DomainDisk } from "./domain-xml.js";
import { AgentError, AgentErrorCode } from "./errors.js";
import { withTimeout } from "./libvirt-link.js";
import type { DiskSize } from "./hypervisor.js";

export interface Mount {
  source: string;
  path: string;
  fsType: string;
}

export interface ClassifiedMount extends Mount {
  shared: boolean;
}

/** Kernel pseudo filesystems: never where a VM disk lives, so not worth a report line. */
const PSEUDO = new Set([
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "cgroup",
  "cgroup2",
  "securityfs",
  "pstore",
  "bpf",
  "debugfs",
  "tracefs",
  "configfs",
  "fusectl",
  "mqueue",
  "hugetlbfs",
  "autofs",
  "binfmt_misc",
  "rpc_pipefs",
  "nsfs",
  "efivarfs",
  "selinuxfs",
  "ramfs",
  "squashfs",
  "fuse.lxcfs",
  "fuse.portal",
  "nfsd",
]);

// /proc/mounts escapes space, tab, newline and backslash as octal.
const unoctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMounts(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    out.push({ source: unoctal(f[0] as string), path: unoctal(f[1] as string), fsType: f[2] as string });
  }
  return out;
}

export async function readMounts(file: string): Promise<Mount[]> {
  return parseMounts(await readFile(file, "utf8"));
}

export class StorageClassifier {
  private readonly sharedTypes: Set<string>;
  constructor(
    sharedFsTypes: readonly string[],
    private readonly sharedPaths: readonly string[],
  ) {
    this.sharedTypes = new Set(sharedFsTypes);
  }

  /** A path is shared when its filesystem is a shared type or it lies under a declared shared path. */
  isShared(p: string, mounts: readonly Mount[]): boolean {
    if (this.sharedPaths.some((d) => pathUnder(p, d))) return true;
    const m = mountHolding(p, mounts);
    return m !== undefined && this.sharedTypes.has(m.fsType);
  }

  /** Mounts worth reporting, plus declared shared paths as their own entries. */
  classify(mounts: readonly Mount[]): ClassifiedMount[] {
    const out: ClassifiedMount[] = [];
    const seen = new Set<string>();
    for (const m of mounts) {
      if (PSEUDO.has(m.fsType) || seen.has(m.path)) continue;
      if (m.fsType === "tmpfs" || m.fsType === "overlay") continue;
      seen.add(m.path);
      out.push({ ...m, shared: this.isShared(m.path, mounts) });
    }
    for (const d of this.sharedPaths) {
      if (seen.has(d)) continue;
      const m = mountHolding(d, mounts);
      out.push({ source: m?.source ?? "", path: d, fsType: m?.fsType ?? "unknown", shared: true });
    }
    return out;
  }
}

/**
 * The report's storage list: each mount as classified, a local one with its space (statfs, within
 * `timeoutMs`; left out if it does not answer). A shared one is never asked: statfs on the mount of
 * an NFS server that went away hangs.
 */
export async function reportedStorage(classified: readonly ClassifiedMount[], timeoutMs: number): Promise<StorageMount[]> {
  return Promise.all(
    classified.map(async (m) => {
      const out: StorageMount = { path: m.path, fsType: m.fsType, shared: m.shared, source: m.source };
      if (m.shared) return out;
      try {
        const s = await withTimeout(statfs(m.path), timeoutMs, `statfs ${m.path}`);
        return { ...out, freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
      } catch {
        return out;
      }
    }),
  );
}

/** A disk a copy-storage move copies, with what creating its image on the destination needs. */
export interface DiskCopy {
  target: string;
  path: string;
  format: string;
  capacityBytes: number;
  /** The layer below (must exist on the destination); its presence makes the copy incremental. */
  backing: { path: string; format: string } | null;
}

/**
 * The disks of a VM that a move to a host reporting `peerStorage` must copy: protocol's one rule,
 * `disksToCopy`, on this host's own view of its mounts.
 */
export function copiedDisks(
  disks: readonly DomainDisk[],
  classifier: StorageClassifier,
  mounts: readonly Mount[],
  peerStorage: readonly StorageMount[],
): DomainDisk[] {
  const facts = disks
    .filter((d) => d.path !== null)
    .map((d) => ({
      disk: d,
      path: d.path,
      network: d.network,
      readOnly: d.readOnly,
      shared: d.network || (d.local && classifier.isShared(d.path as string, mounts)),
    }));
  return disksToCopy(facts, classifier.classify(mounts), peerStorage).map(({ disk }) => disk);
}

/**
 * `copiedDisks`, each with its size and format. A disk whose size or format libvirt does not give
 * cannot be created there: that is an error naming it.
 */
export function diskCopies(
  disks: readonly DomainDisk[],
  sizes: readonly DiskSize[],
  classifier: StorageClassifier,
  mounts: readonly Mount[],
  peerStorage: readonly StorageMount[],
): DiskCopy[] {
  return copiedDisks(disks, classifier, mounts, peerStorage).map((disk) => {
    const size = sizes.find((s) => s.target === disk.target)?.capacityBytes ?? null;
    if (disk.sourceType !== "file" || disk.path === null || !disk.path.startsWith("/")) {
      throw new AgentError(
        AgentErrorCode.LocalDisk,
        `disk ${disk.target} (${disk.path}, type ${disk.sourceType}) is not on shared storage and only image files can be copied`,
      );
    }
    if (size === null || size <= 0)
      throw new AgentError(AgentErrorCode.LocalDisk, `disk ${disk.target} (${disk.path}): libvirt gives no size`);
    return {
      target: disk.target,
      path: disk.path,
      format: disk.format ?? "raw",
      capacityBytes: size,
      backing: disk.backing ? { path: disk.backing.path, format: disk.backing.format ?? "raw" } : null,
    };
  });
}
