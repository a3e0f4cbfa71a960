import { readFile } from "node:fs/promises";

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

const under = (p: string, dir: string) => dir === "/" || p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

export class StorageClassifier {
  private readonly sharedTypes: Set<string>;
  constructor(
    sharedFsTypes: readonly string[],
    private readonly sharedPaths: readonly string[],
  ) {
    this.sharedTypes = new Set(sharedFsTypes);
  }

  /** The mount holding `p` (the last, longest match wins, as in the kernel's view). */
  mountOf(p: string, mounts: readonly Mount[]): Mount | undefined {
    let best: Mount | undefined;
    for (const m of mounts) if (under(p, m.path) && (!best || m.path.length >= best.path.length)) best = m;
    return best;
  }

  /** A path is shared when its filesystem is a shared type or it lies under a declared shared path. */
  isShared(p: string, mounts: readonly Mount[]): boolean {
    if (this.sharedPaths.some((d) => under(p, d))) return true;
    const m = this.mountOf(p, mounts);
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
      const m = this.mountOf(d, mounts);
      out.push({ source: m?.source ?? "", path: d, fsType: m?.fsType ?? "unknown", shared: true });
    }
    return out;
  }
}
