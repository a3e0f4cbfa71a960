import { writeFile } from "node:fs/promises";
import { Connection } from "@drover/libvirt";

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

/** The names of the domains the host's libvirtd keeps a persistent definition of, running or not. */
export async function definedDomains(uri: string): Promise<string[]> {
  return withConn(uri, async (c) => (await c.listDomains()).filter((d) => d.persistent).map((d) => d.name));
}

/** Resolves once the host's libvirtd answers a call over its TCP URI. */
export async function ping(uri: string): Promise<void> {
  await withConn(uri, (c) => c.version());
}
