import { randomUUID } from "node:crypto";
import { badOption } from "./errors.js";

export const DROVER_METADATA_NS = "https://drover.dev/ns/1";
export const DISK_CACHE_MODES = ["none", "writethrough", "writeback", "directsync", "unsafe", "default"] as const;
export type DiskCacheMode = (typeof DISK_CACHE_MODES)[number];

export interface GuestWorkload {
  /** MiB the guest keeps rewriting (default 8; 0 = no dirtying). */
  dirtyMb?: number;
  /** MiB rewritten per second, or "max" (default 8). */
  dirtyRate?: number | "max";
  /** Shell loops burning CPU (default 0). */
  busy?: number;
  /**
   * Every rewrite changes the bytes (default false: the same bytes again, which QEMU's dirty-rate
   * sampling, comparing page hashes, cannot see; migration's dirty log sees both).
   */
  changing?: boolean;
}

export interface GuestSpec {
  name: string;
  uuid?: string;
  /** MiB of RAM (default 96; keep <= 128 on the shared machine). */
  memoryMiB?: number;
  vcpus?: number;
  kernel: string;
  initrd: string;
  /** Disk image path (on the lab's shared dir); no disk when absent. */
  diskPath?: string;
  /** Disk image format (default raw). */
  diskFormat?: "raw" | "qcow2";
  /** Disk cache mode (default none, what live migration wants; others exist for preflight tests). */
  diskCache?: DiskCacheMode;
  /** A second disk (vdb), qcow2, on the host's own storage: a move must copy it. */
  localDiskPath?: string;
  /** Path (as the host's libvirtd sees it) of the file the serial console is written to. */
  serialPath: string;
  /** Bridges to attach one interface each to; only where the lab mode has real bridges. */
  bridges?: string[];
  /** Drover rule tags, written to <metadata><drover:tags xmlns:drover="https://drover.dev/ns/1">. */
  tags?: string[];
  workload?: GuestWorkload;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw badOption(what, v, `an integer ${min}..${max}`);
  return v;
}

/** Kernel command line carrying the workload knobs read by the guest's /init (see guest-init.ts). */
export function guestCmdline(w: GuestWorkload = {}): string {
  const dirtyMb = checkInt("workload.dirtyMb", w.dirtyMb ?? 8, 0, 64);
  const rate = w.dirtyRate ?? 8;
  if (rate !== "max") checkInt("workload.dirtyRate", rate, 0, 4096);
  const busy = checkInt("workload.busy", w.busy ?? 0, 0, 8);
  // cryptomgr.notests: the crypto self-tests are a second of every TCG boot and test nothing of ours.
  return `console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off cryptomgr.notests drover.dirty_mb=${dirtyMb} drover.dirty_rate=${rate} drover.busy=${busy} drover.dirty_change=${w.changing ? 1 : 0}`;
}

/**
 * Domain XML of a lab guest (TCG, `type='qemu'`; the host's libvirtd picks nothing faster). The
 * disk sits on the lab's shared dir, which libvirt does not know to be shared: live migration of
 * such a guest needs VIR_MIGRATE_UNSAFE (`virsh migrate --unsafe`).
 */
export function guestDomainXml(spec: GuestSpec): string {
  if (!NAME.test(spec.name)) throw badOption("guest name", spec.name, "1-64 of [A-Za-z0-9_.-], starting with a letter or digit");
  const uuid = spec.uuid ?? randomUUID();
  if (!UUID.test(uuid)) throw badOption("guest uuid", uuid, "a UUID");
  const mem = checkInt("memoryMiB", spec.memoryMiB ?? 96, 48, 4096);
  const vcpus = checkInt("vcpus", spec.vcpus ?? 1, 1, 8);
  const cache = spec.diskCache ?? "none";
  if (!DISK_CACHE_MODES.includes(cache)) throw badOption("diskCache", cache, DISK_CACHE_MODES.join("|"));
  const format = spec.diskFormat ?? "raw";
  if (format !== "raw" && format !== "qcow2") throw badOption("diskFormat", format, "raw|qcow2");
  for (const t of spec.tags ?? []) {
    if (typeof t !== "string" || t.length === 0 || t.length > 128)
      throw badOption("tag", t, "a non-empty string of at most 128 characters");
  }
  const fileDisk = (path: string, type: string, cacheMode: string, dev: string) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='${type}' cache='${cacheMode}'/>
      <source file='${esc(path)}'/>
      <target dev='${dev}' bus='virtio'/>
    </disk>\n`;
  const disk = spec.diskPath ? fileDisk(spec.diskPath, format, cache, "vda") : "";
  const local = spec.localDiskPath ? fileDisk(spec.localDiskPath, "qcow2", "none", "vdb") : "";
  const nics = (spec.bridges ?? [])
    .map((b) => `    <interface type='bridge'>\n      <source bridge='${esc(b)}'/>\n      <model type='virtio'/>\n    </interface>\n`)
    .join("");
  const tags = (spec.tags ?? []).map((t) => `<drover:tag>${esc(t)}</drover:tag>`).join("");
  return `<domain type='qemu'>
  <name>${esc(spec.name)}</name>
  <uuid>${uuid}</uuid>
  <metadata>
    <drover:tags xmlns:drover='${DROVER_METADATA_NS}'>${tags}</drover:tags>
  </metadata>
  <memory unit='MiB'>${mem}</memory>
  <currentMemory unit='MiB'>${mem}</currentMemory>
  <vcpu>${vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${esc(spec.kernel)}</kernel>
    <initrd>${esc(spec.initrd)}</initrd>
    <cmdline>${esc(guestCmdline(spec.workload))}</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${disk}${local}${nics}    <serial type='file'>
      <source path='${esc(spec.serialPath)}' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
