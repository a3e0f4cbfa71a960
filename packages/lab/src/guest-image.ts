import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { cpioArchive, S_IFCHR, S_IFDIR, S_IFREG, type CpioEntry } from "./cpio.js";
import { LabError, LabErrorCode } from "./errors.js";
import { GUEST_INIT } from "./guest-init.js";
import { run } from "./proc.js";

export const DEFAULT_CACHE_DIR = "/var/cache/drover-lab";
const BUSYBOX = "/bin/busybox";
const KERNEL_META_PACKAGE = "linux-image-cloud-amd64";

export function cacheDir(): string {
  return process.env["DROVER_LAB_CACHE"] || DEFAULT_CACHE_DIR;
}

export interface GuestImage {
  kernel: string;
  initrd: string;
}

/**
 * Kernel and initramfs of the tiny guest, built once into the cache dir (default
 * /var/cache/drover-lab, env DROVER_LAB_CACHE). The kernel is the Debian 12 cloud kernel
 * (`apt-get download`, only /boot/vmlinuz-* is extracted); the initramfs is busybox-static plus
 * our /init, about 1 MB. Files appear by rename, so concurrent builders never see half a file.
 * `kernel` is that kernel already decompressed (see ensurePvhKernel) when it can be.
 */
export async function ensureGuestImage(dir = cacheDir()): Promise<GuestImage> {
  await mkdir(dir, { recursive: true });
  const kernel = await ensurePvhKernel(dir, await ensureKernel(dir));
  const initrd = await ensureInitramfs(dir);
  return { kernel, initrd };
}

/** Decompressors of a bzImage payload, by its magic bytes (the CLI tools of Debian's lz4, xz-utils, zstd, gzip). */
const DECOMPRESSORS: Array<{ magic: string; cmd: string }> = [
  { magic: "02214c18", cmd: "lz4" },
  { magic: "fd377a585a00", cmd: "xz" },
  { magic: "28b52ffd", cmd: "zstd" },
  { magic: "1f8b", cmd: "gzip" },
];
/** ELF note "Xen", type XEN_ELFNOTE_PHYS32_ENTRY (18), 4- or 8-byte descriptor: the kernel has a PVH entry point. */
const PVH_NOTES = ["04000000040000001200000058656e00", "04000000080000001200000058656e00"].map((h) => Buffer.from(h, "hex"));

/**
 * Under TCG a guest spends seconds (more than its kernel's whole init on a loaded machine) unpacking
 * the bzImage's compressed kernel, on every boot. The Debian kernel is also an ELF with a PVH entry
 * point, which QEMU's -kernel starts directly: it is decompressed once here, next to the bzImage.
 * Anything unexpected (another format, no PVH note, a missing tool) keeps the bzImage, which boots
 * the same guest, only slower.
 */
async function ensurePvhKernel(dir: string, bzImage: string): Promise<string> {
  const target = join(dir, `${basename(bzImage).replace(/^vmlinuz-/, "vmlinux-")}.pvh`);
  if (existsSync(target)) return target;
  const image = await readFile(bzImage);
  if (image.length < 0x250 || image.toString("latin1", 0x202, 0x206) !== "HdrS") return bzImage;
  // Boot protocol: the payload sits at payload_offset (0x248) from the protected-mode code, which
  // follows the (setup_sects + 1) 512-byte sectors of the real-mode part.
  const start = ((image[0x1f1] || 4) + 1) * 512 + image.readUInt32LE(0x248);
  const payload = image.subarray(start, start + image.readUInt32LE(0x24c));
  const tool = DECOMPRESSORS.find((d) => payload.subarray(0, d.magic.length / 2).toString("hex") === d.magic);
  if (!tool) return bzImage;
  const tmp = await mkdtemp(join(dir, ".pvh-"));
  try {
    await writeFile(join(tmp, "payload"), payload);
    // The payload may carry trailing bytes after its stream: the tools say so, the output is whole.
    await run("sh", ["-c", `"$1" -dc <"$2" >"$3" 2>/dev/null; test -s "$3"`, "sh", tool.cmd, join(tmp, "payload"), join(tmp, "vmlinux")], {
      timeoutMs: 120_000,
    }).catch(() => undefined);
    const elf = existsSync(join(tmp, "vmlinux")) ? await readFile(join(tmp, "vmlinux")) : Buffer.alloc(0);
    if (elf.toString("latin1", 0, 4) !== "\x7fELF" || !PVH_NOTES.some((n) => elf.includes(n))) return bzImage;
    await rename(join(tmp, "vmlinux"), target);
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function ensureKernel(dir: string): Promise<string> {
  const cached = (await readdir(dir)).filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f)).sort();
  const last = cached.at(-1);
  if (last) return join(dir, last);
  const depends = await run("apt-cache", ["depends", KERNEL_META_PACKAGE]).catch((e: unknown) => {
    throw new LabError(LabErrorCode.ImageBuild, `cannot resolve ${KERNEL_META_PACKAGE} (is apt usable?)`, { cause: e });
  });
  const pkg = /Depends:\s+(linux-image-[0-9][^\s]*-cloud-amd64)/.exec(depends)?.[1];
  if (!pkg) throw new LabError(LabErrorCode.ImageBuild, `no kernel package named in: ${depends.trim()}`);
  const tmp = await mkdtemp(join(dir, ".kernel-"));
  try {
    // apt's sandbox user cannot write to our temp dir; that warning is harmless.
    await run("sh", ["-c", `cd "$1" && apt-get download "$2"`, "sh", tmp, pkg], { timeoutMs: 300_000 });
    const deb = (await readdir(tmp)).find((f) => f.endsWith(".deb"));
    if (!deb) throw new LabError(LabErrorCode.ImageBuild, `apt-get download ${pkg} produced no .deb`);
    await run("sh", ["-c", `cd "$1" && dpkg-deb --fsys-tarfile "$2" | tar -x --wildcards './boot/vmlinuz-*'`, "sh", tmp, deb]);
    const vmlinuz = (await readdir(join(tmp, "boot"))).find((f) => f.startsWith("vmlinuz-"));
    if (!vmlinuz) throw new LabError(LabErrorCode.ImageBuild, `${deb} holds no /boot/vmlinuz-*`);
    const target = join(dir, vmlinuz);
    await rename(join(tmp, "boot", vmlinuz), target);
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function ensureInitramfs(dir: string): Promise<string> {
  if (!existsSync(BUSYBOX)) {
    throw new LabError(LabErrorCode.ImageBuild, `${BUSYBOX} is missing: install busybox-static (scripts/setup.sh does)`);
  }
  const busybox = await readFile(BUSYBOX);
  const hash = createHash("sha256").update(GUEST_INIT).update(busybox).digest("hex").slice(0, 12);
  const target = join(dir, `initramfs-${hash}.img`);
  if (existsSync(target)) return target;
  const entries: CpioEntry[] = [
    ...["bin", "dev", "proc", "sys", "tmp", "ws"].map((d) => ({ path: d, mode: S_IFDIR | 0o755 })),
    // The kernel opens /dev/console for /init's stdio before anything could mount devtmpfs.
    { path: "dev/console", mode: S_IFCHR | 0o600, rdev: { major: 5, minor: 1 } },
    { path: "dev/null", mode: S_IFCHR | 0o666, rdev: { major: 1, minor: 3 } },
    { path: "dev/urandom", mode: S_IFCHR | 0o666, rdev: { major: 1, minor: 9 } },
    { path: "bin/busybox", mode: S_IFREG | 0o755, data: busybox },
    { path: "init", mode: S_IFREG | 0o755, data: Buffer.from(GUEST_INIT) },
  ];
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, gzipSync(cpioArchive(entries), { level: 9 }));
  await rename(tmp, target);
  return target;
}
