import { writeFile } from "node:fs/promises";
import { Connection, ErrorCode, LibvirtError } from "@drover/libvirt";

/**
 * The few libvirt calls the lab itself needs. Connections are cached per URI and closed after a
 * short idle time: opening the first one starts @drover/libvirt's worker pool and event loop
 * (seconds on a loaded machine), so a burst of calls (start a lab, define its guests) shares one.
 */
const IDLE_MS = 3000;
const cache = new Map<string, { conn: Promise<Connection>; users: number; timer?: NodeJS.Timeout }>();

async function withConn<T>(uri: string, fn: (c: Connection) => Promise<T>, retry = true): Promise<T> {
  let entry = cache.get(uri);
  if (!entry) {
    entry = { conn: Connection.open(uri), users: 0 };
    cache.set(uri, entry);
    entry.conn.catch(() => cache.delete(uri));
  }
  const e = entry;
  clearTimeout(e.timer);
  e.users++;
  let conn: Connection | undefined;
  try {
    conn = await e.conn;
    return await fn(conn);
  } catch (err) {
    // A libvirtd restarted since the connection was opened: drop it and try once on a fresh one.
    if (retry && conn && !(await conn.isAlive())) {
      if (cache.get(uri) === e) cache.delete(uri);
      e.users--;
      void conn.close().catch(() => undefined);
      return withConn(uri, fn, false);
    }
    throw err;
  } finally {
    if (cache.get(uri) === e && --e.users === 0) {
      e.timer = setTimeout(() => {
        if (cache.get(uri) !== e || e.users > 0) return;
        cache.delete(uri);
        void e.conn.then((c) => c.close()).catch(() => undefined);
      }, IDLE_MS);
      e.timer.unref();
    }
  }
}

/** Closes the cached connection to `uri` (e.g. before its libvirtd is stopped). */
export async function forget(uri: string): Promise<void> {
  const e = cache.get(uri);
  if (!e) return;
  cache.delete(uri);
  clearTimeout(e.timer);
  await e.conn.then((c) => c.close()).catch(() => undefined);
}

const noDomain = (e: unknown) => e instanceof LibvirtError && e.libvirtCode === ErrorCode.NO_DOMAIN;

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
