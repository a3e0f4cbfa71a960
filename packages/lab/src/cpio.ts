/** Minimal writer of the "newc" cpio format the Linux kernel unpacks as an initramfs. */
export interface CpioEntry {
  path: string;
  /** Full st_mode: type bits plus permissions (e.g. 0o100755 for an executable file). */
  mode: number;
  data?: Buffer;
  /** Device number of a character/block special file. */
  rdev?: { major: number; minor: number };
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

function header(ino: number, e: CpioEntry, size: number, nameLen: number): string {
  const f = (n: number) => n.toString(16).padStart(8, "0");
  const nlink = (e.mode & 0o170000) === S_IFDIR ? 2 : 1;
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const r = e.rdev ?? { major: 0, minor: 0 };
  return "070701" + [ino, e.mode, 0, 0, nlink, 0, size, 0, 0, r.major, r.minor, nameLen, 0].map(f).join("");
}

const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const all = [...entries, { path: "TRAILER!!!", mode: 0 }];
  all.forEach((e, i) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.path}\0`);
    push(Buffer.from(header(e.path === "TRAILER!!!" ? 0 : i + 1, e, data.length, name.length), "ascii"));
    push(name);
    push(pad4(offset));
    push(data);
    push(pad4(offset));
  });
  return Buffer.concat(parts);
}
