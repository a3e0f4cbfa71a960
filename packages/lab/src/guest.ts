import { randomUUID } from "node:crypto";
import { open, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { badOption } from "./errors.js";
import { ensureGuestImage } from "./guest-image.js";
import { guestDomainXml, type DiskCacheMode, type GuestWorkload } from "./guest-xml.js";
import type { LabHost } from "./lab-host.js";
import { writeLocalDisk } from "./local-disk.js";
import { defineAndStart } from "./virt.js";

export interface LabGuestOptions {
  name: string;
  uuid?: string;
  memoryMiB?: number;
  vcpus?: number;
  /** Disk image size in MiB on the shared dir (default 16, sparse; 0 = no disk). */
  diskMiB?: number;
  diskCache?: DiskCacheMode;
  /**
   * A qcow2 data disk (vdb) on this host's own storage, not the shared dir (local-disk.ts): `sizeMiB`
   * virtual, the first `dataMiB` random. Moving the guest needs copy-storage.
   */
  localDisk?: { sizeMiB: number; dataMiB: number };
  tags?: string[];
  workload?: GuestWorkload;
  /** One virtio NIC per bridge; namespace mode only (loopback hosts have no real bridges). */
  bridges?: string[];
  /** Image cache dir (default env DROVER_LAB_CACHE or /var/cache/drover-lab). */
  cacheDir?: string;
}

export interface LabGuest {
  name: string;
  uuid: string;
  diskPath: string | null;
  /** The local data disk's path in the hosts' namespaces (host.hostPath() gives a host's real file), or null. */
  localDiskNsPath: string | null;
  /** Path of the serial file inside any host's namespace; use host.serialFile(name) to read it. */
  serialNsPath: string;
}

/**
 * Defines and starts a persistent tiny guest on `host`, its raw disk on the lab's shared dir.
 * Boots in 2-6 s under TCG; `readTicks(host.serialFile(name))` shows it running.
 */
export async function startGuest(host: LabHost, opts: LabGuestOptions): Promise<LabGuest> {
  const diskMiB = opts.diskMiB ?? 16;
  if (!Number.isInteger(diskMiB) || diskMiB < 0 || diskMiB > 1024) throw badOption("diskMiB", diskMiB, "an integer 0..1024");
  if (opts.bridges?.length && !host.netns) {
    throw badOption("bridges", opts.bridges, 'none on a loopback lab host (its bridges are only recorded); use network: "netns"');
  }
  const image = await ensureGuestImage(opts.cacheDir);
  const uuid = opts.uuid ?? randomUUID();
  await mkdir(host.sharedDir, { recursive: true });
  let diskPath: string | null = null;
  if (diskMiB > 0) {
    diskPath = join(host.sharedDir, `${opts.name}.raw`);
    const fh = await open(diskPath, "w");
    await fh.truncate(diskMiB * 1024 * 1024);
    await fh.close();
  }
  const localDiskNsPath = opts.localDisk ? await writeLocalDisk(host, opts.name, opts.localDisk.sizeMiB, opts.localDisk.dataMiB) : null;
  const serialNsPath = `/var/log/libvirt/qemu/${opts.name}.serial`;
  const xml = guestDomainXml({
    name: opts.name,
    uuid,
    kernel: image.kernel,
    initrd: image.initrd,
    serialPath: serialNsPath,
    ...(diskPath ? { diskPath } : {}),
    ...(localDiskNsPath ? { localDiskPath: localDiskNsPath } : {}),
    ...(opts.memoryMiB !== undefined ? { memoryMiB: opts.memoryMiB } : {}),
    ...(opts.vcpus !== undefined ? { vcpus: opts.vcpus } : {}),
    ...(opts.diskCache ? { diskCache: opts.diskCache } : {}),
    ...(opts.tags ? { tags: opts.tags } : {}),
    ...(opts.bridges ? { bridges: opts.bridges } : {}),
    ...(opts.workload ? { workload: opts.workload } : {}),
  });
  await defineAndStart(host.uri, join(host.sharedDir, `${opts.name}.xml`), xml, opts.name);
  return { name: opts.name, uuid, diskPath, localDiskNsPath, serialNsPath };
}
