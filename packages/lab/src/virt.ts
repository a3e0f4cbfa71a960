import { writeFile } from "node:fs/promises";
import { run } from "./proc.js";

/**
 * The few libvirt calls the lab itself needs. Stopgap: `virsh` over the host's TCP URI, until
 * @drover/libvirt exports its Connection API; then only this file changes.
 */
export async function defineAndStart(uri: string, xmlFile: string, xml: string, name: string): Promise<void> {
  await writeFile(xmlFile, xml);
  await run("virsh", ["-q", "-c", uri, "define", xmlFile]);
  await run("virsh", ["-q", "-c", uri, "start", name]);
}

export async function listDomains(uri: string): Promise<string[]> {
  const out = await run("virsh", ["-q", "-c", uri, "list", "--all", "--name"], { timeoutMs: 15_000 });
  return out
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Destroys (if running) and undefines a domain; a domain that is already gone is not an error. */
export async function removeDomain(uri: string, name: string): Promise<void> {
  await run("virsh", ["-q", "-c", uri, "destroy", name], { timeoutMs: 30_000 }).catch(() => undefined);
  await run("virsh", ["-q", "-c", uri, "undefine", name], { timeoutMs: 30_000 }).catch(() => undefined);
}

export async function ping(uri: string): Promise<void> {
  await run("virsh", ["-q", "-c", uri, "uri"], { timeoutMs: 10_000 });
}
