// A guest's local data disk: a qcow2 image in one host's private /var/lib/libvirt (each lab host
// bind-mounts its own there), so the same path names a different file on every host, as a local
// disk does on real hosts. A move must copy it (copy-storage).
//
// The content is written before the guest boots and stays quiescent: the guest's initramfs loads no
// block driver and mounts nothing, so the image changes only if a copy goes wrong, and its content
// hash on the destination must equal the source's.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { badOption } from "./errors.js";
import type { LabHost } from "./lab-host.js";
import { run } from "./proc.js";

/** Where a guest's local data disk is, as every host's libvirtd and QEMU see it. */
export function localDiskNsPath(guest: string): string {
  return `/var/lib/libvirt/images/${guest}-data.qcow2`;
}

/**
 * Writes the qcow2 data disk of `guest` on `host`: `sizeMiB` virtual, the first `dataMiB` of it
 * random bytes (so a copy has real data to move; the rest reads as zeros). Returns its path in the
 * host's namespace.
 */
export async function writeLocalDisk(host: LabHost, guest: string, sizeMiB: number, dataMiB: number): Promise<string> {
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > 1024) throw badOption("localDisk.sizeMiB", sizeMiB, "an integer 1..1024");
  if (!Number.isInteger(dataMiB) || dataMiB < 0 || dataMiB > sizeMiB)
    throw badOption("localDisk.dataMiB", dataMiB, `an integer 0..${sizeMiB}`);
  const nsPath = localDiskNsPath(guest);
  const file = host.hostPath(nsPath);
  await mkdir(dirname(file), { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), "drover-lab-disk-"));
  try {
    const raw = join(tmp, "content.raw");
    await writeFile(raw, randomBytes(dataMiB * 1024 * 1024));
    await run("truncate", ["-s", `${sizeMiB}M`, raw]);
    await run("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, file]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return nsPath;
}

/** SHA-256 of what the guest sees on the disk image at `file` (a real path): its content, whatever the image layout. */
export async function diskContentHash(file: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), "drover-lab-hash-"));
  try {
    const raw = join(tmp, "content.raw");
    await run("qemu-img", ["convert", "-q", "-U", "-O", "raw", file, raw]);
    return createHash("sha256")
      .update(await readFile(raw))
      .digest("hex");
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
