// Disk images created and removed through a libvirtd's storage driver, so that a remote host's
// image is made in that host's own filesystem view (copy-storage moves create the destination's
// image this way before the move). Pure here: the checks and the volume XML.
import { posix } from "node:path";
import { LibvirtArgumentError } from "./errors.js";

export interface VolumeSpec {
  /** Absolute path of the image on the host whose libvirtd is asked. */
  path: string;
  /** Virtual size, bytes. */
  capacityBytes: number;
  /** Image format (qcow2, raw, ...); libvirt's dir pool runs qemu-img for anything but raw. */
  format: string;
  /** The image the new one overlays (a backing chain's next layer), which must exist on that host. */
  backing?: { path: string; format: string };
}

const FORMAT = /^[a-z0-9]{1,16}$/;

const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;");

/** A transient dir pool's XML: what lets a volume be made in a directory no pool of the host holds. */
export function dirPoolXml(name: string, dir: string): string {
  return `<pool type='dir'><name>${xmlText(name)}</name><target><path>${xmlText(dir)}</path></target></pool>`;
}

/** The directory and file name of an image path, refused unless absolute and normal. */
export function splitImagePath(what: string, path: unknown): { dir: string; name: string } {
  if (typeof path !== "string" || !path.startsWith("/") || posix.normalize(path) !== path || path.endsWith("/") || path.includes("\0")) {
    throw new LibvirtArgumentError(`${what} must be an absolute, normalised file path (got ${JSON.stringify(path)})`);
  }
  return { dir: posix.dirname(path), name: posix.basename(path) };
}

/** The <volume> XML for `spec`, after checking every field. */
export function volumeXml(spec: VolumeSpec): { dir: string; name: string; xml: string } {
  const { dir, name } = splitImagePath("volume path", spec.path);
  if (!Number.isSafeInteger(spec.capacityBytes) || spec.capacityBytes <= 0) {
    throw new LibvirtArgumentError(`volume capacityBytes must be a positive integer (got ${JSON.stringify(spec.capacityBytes)})`);
  }
  if (!FORMAT.test(spec.format))
    throw new LibvirtArgumentError(`volume format must be like qcow2 or raw (got ${JSON.stringify(spec.format)})`);
  let backing = "";
  if (spec.backing) {
    splitImagePath("volume backing path", spec.backing.path);
    if (!FORMAT.test(spec.backing.format)) {
      throw new LibvirtArgumentError(`volume backing format must be like qcow2 or raw (got ${JSON.stringify(spec.backing.format)})`);
    }
    backing = `<backingStore><path>${xmlText(spec.backing.path)}</path><format type='${spec.backing.format}'/></backingStore>`;
  }
  const xml =
    `<volume><name>${xmlText(name)}</name><capacity unit='bytes'>${spec.capacityBytes}</capacity>` +
    `<allocation unit='bytes'>0</allocation><target><format type='${spec.format}'/></target>${backing}</volume>`;
  return { dir, name, xml };
}
