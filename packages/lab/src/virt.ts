import { writeFile } from "node:fs/promises";
import { Connection, ErrorCode, LibvirtError } from "@drover/libvirt";

/** The few libvirt calls the lab itself needs, each on a short-lived connection to a host's TCP URI. */
async function withConn<T>(uri: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await Connection.open(uri);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

const noDomain = (e: unknown) => e instanceof LibvirtError && e.code === ErrorCode.NO_DOMAIN;

/** Defines (persistently) and starts a domain; the XML is also written to `xmlFile` for people. */
export async function defineAndStart(uri: string, xmlFile: string, xml: string, _name: string): Promise<void> {
  await writeFile(xmlFile, xml);
  await withConn(uri, async (c) => {
    const d = await c.defineXml(xml);
    try {
      await d.start();
    } finally {
      d.free();
    }
  });
}

export async function listDomains(uri: string): Promise<string[]> {
  return withConn(uri, async (c) => (await c.listDomains()).map((d) => d.name));
}

/** Destroys (if running) and undefines a domain; a domain that is already gone is not an error. */
export async function removeDomain(uri: string, name: string): Promise<void> {
  await withConn(uri, async (c) => {
    const d = await c.lookupDomain(name).catch((e: unknown) => {
      if (noDomain(e)) return undefined;
      throw e;
    });
    if (!d) return;
    try {
      if ((await d.info()).state !== "shutoff") await d.destroy().catch((e: unknown) => (noDomain(e) ? undefined : Promise.reject(e)));
      await d.undefine().catch((e: unknown) => (noDomain(e) ? undefined : Promise.reject(e)));
    } finally {
      d.free();
    }
  });
}

/** Resolves once the host's libvirtd answers a call over its TCP URI. */
export async function ping(uri: string): Promise<void> {
  await withConn(uri, (c) => c.version());
}
