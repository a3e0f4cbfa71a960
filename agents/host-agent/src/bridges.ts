import { readdir, access } from "node:fs/promises";

/** Linux bridges of this network namespace: devices with a /sys/class/net/<dev>/bridge directory. */
export async function localBridges(sysNet = "/sys/class/net"): Promise<string[]> {
  let devs: string[];
  try {
    devs = await readdir(sysNet);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const d of devs.sort()) {
    try {
      await access(`${sysNet}/${d}/bridge`);
      out.push(d);
    } catch {
      // not a bridge
    }
  }
  return out;
}
