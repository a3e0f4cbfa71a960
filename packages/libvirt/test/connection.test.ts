import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LifecycleEventInfo, MetadataChangeEventInfo } from "../src/index.js";
import { Connection, ErrorCode, LibvirtArgumentError, LibvirtError, LibvirtStateError, MigrateFlags } from "../src/index.js";
import { pool } from "../src/runtime.js";
import { testDomainXml } from "./test-domain.js";

const URI = "test:///default";
let conn: Connection;

beforeAll(async () => {
  conn = await Connection.open(URI);
});
afterAll(async () => {
  await conn.close();
});

describe("Connection on the test driver", () => {
  it("reports versions, host and node facts", async () => {
    const v = await conn.version();
    expect(v.libvirt).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.driver).toBe("TEST");
    expect(typeof (await conn.hostname())).toBe("string");
    const n = await conn.nodeInfo();
    expect(n).toEqual({ model: "i686", memoryKiB: 3145728, cpus: 16, mhz: 1400, nodes: 2, sockets: 2, cores: 2, threads: 2 });
    expect(await conn.freeMemoryBytes()).toBeGreaterThan(0);
    expect(await conn.capabilities()).toContain("<capabilities>");
    expect(await conn.isAlive()).toBe(true);
    expect(conn.uri).toBe(URI);
  });

  it("turns libvirt failures into LibvirtError with code, domain and message", async () => {
    const err = await conn.lookupDomain("no-such-domain").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    const e = err as LibvirtError;
    expect(e.libvirtCode).toBe(ErrorCode.NO_DOMAIN);
    expect(e.code).toBe("libvirt.no-domain");
    expect(e.domain).toBe(12); // VIR_FROM_TEST
    expect(e.libvirtMessage).toMatch(/not found/i);
    expect(e.call).toBe("virDomainLookupByName");
    // The test driver has no CPU comparison: the error path of compareCpu.
    const cpu = await conn.compareCpu("<cpu><arch>i686</arch></cpu>").catch((x: unknown) => x);
    expect((cpu as LibvirtError).libvirtCode).toBe(ErrorCode.NO_SUPPORT);
  });

  it("rejects an open that fails with the libvirt error, and can open again afterwards", async () => {
    // Port 1 on loopback: nothing listens, the remote driver gets "connection refused".
    const err = await Connection.open("qemu+tcp://127.0.0.1:1/system").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect((err as LibvirtError).libvirtCode).toBe(ErrorCode.SYSTEM_ERROR);
    const again = await Connection.open(URI);
    expect(await again.isAlive()).toBe(true);
    await again.close();
  });

  it("refuses bad arguments before calling libvirt", async () => {
    await expect(conn.lookupDomain("")).rejects.toThrow(LibvirtArgumentError);
    await expect(conn.defineXml("")).rejects.toThrow(/xml/);
    await expect(Connection.open("")).rejects.toThrow(LibvirtArgumentError);
    await expect(conn.allDomainStats({ stats: -1 })).rejects.toThrow(/stats/);
  });

  it("defines, starts, inspects, destroys and undefines a domain, with lifecycle events", async () => {
    const events: LifecycleEventInfo[] = [];
    const off = conn.onLifecycle((e) => {
      if (e.domain.name === "drover-life") events.push(e);
    });
    const dom = await conn.defineXml(testDomainXml("drover-life", 96));
    try {
      expect(dom.name).toBe("drover-life");
      expect(dom.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect((await dom.info()).state).toBe("shutoff");
      await dom.start();
      const info = await dom.info();
      expect(info).toMatchObject({ state: "running", maxMemKiB: 96 * 1024, vcpus: 1 });
      await dom.suspend();
      expect((await dom.info()).state).toBe("paused");
      await dom.resume();

      const listed = (await conn.listDomains()).find((d) => d.name === "drover-life");
      expect(listed).toMatchObject({ uuid: dom.uuid, state: "running", persistent: true, active: true });
      expect(listed?.id).toBeGreaterThan(0);

      const byUuid = await conn.lookupDomain(dom.uuid);
      expect(byUuid.name).toBe("drover-life");
      byUuid.free();

      expect(await dom.xml()).toContain("<name>drover-life</name>");
      expect(await dom.xml({ migratable: true, inactive: true })).toContain("<uuid>" + dom.uuid);

      await dom.destroy();
      expect((await conn.listDomains()).find((d) => d.name === "drover-life")).toMatchObject({ state: "shutoff", id: null, active: false });
      await dom.undefine();
      await expect
        .poll(() => events.map((e) => e.event), { timeout: 10_000, interval: 10, message: "the undefined event" })
        .toContain("undefined");
      expect(events.map((e) => `${e.event}/${e.detail}`)).toEqual([
        "defined/added",
        "started/booted",
        "suspended/paused",
        "resumed/unpaused",
        "stopped/destroyed",
        "undefined/removed",
      ]);
      await expect(conn.lookupDomain("drover-life")).rejects.toMatchObject({ libvirtCode: ErrorCode.NO_DOMAIN });
    } finally {
      off();
      dom.free();
    }
    await expect(dom.info()).rejects.toBeInstanceOf(LibvirtStateError);
  });

  it("sets and removes a namespace's metadata element, with a metadata-change event each time", async () => {
    const NS = "https://drover.dev/ns/1";
    const events: MetadataChangeEventInfo[] = [];
    const off = conn.onMetadataChange((e) => {
      if (e.domain.name === "drover-meta") events.push(e);
    });
    const dom = await conn.defineXml(testDomainXml("drover-meta"));
    try {
      await dom.setMetadataElement(NS, "drover", '<rules pinned="yes"/>');
      expect(await dom.xml()).toMatch(/<drover:rules xmlns:drover="https:\/\/drover.dev\/ns\/1" pinned="yes"\/>/);
      await expect.poll(() => events.length, { timeout: 10_000, interval: 10, message: "the metadata-change event" }).toBe(1);
      expect(events[0]).toEqual({ domain: { name: "drover-meta", uuid: dom.uuid }, type: "element", nsuri: NS });
      await dom.setMetadataElement(NS, "drover", null);
      expect(await dom.xml()).not.toContain("drover:rules");
      await expect.poll(() => events.length, { timeout: 10_000, interval: 10, message: "the second event" }).toBe(2);
      await expect(dom.setMetadataElement("", "drover", null)).rejects.toThrow(LibvirtArgumentError);
    } finally {
      off();
      await dom.undefine();
      dom.free();
    }
  });

  it("decodes allDomainStats for all or chosen domains", async () => {
    const a = await conn.defineXml(testDomainXml("drover-stats-a"));
    const b = await conn.defineXml(testDomainXml("drover-stats-b"));
    try {
      await a.start();
      const all = await conn.allDomainStats();
      const sa = all.find((s) => s.name === "drover-stats-a");
      expect(sa?.uuid).toBe(a.uuid);
      expect(sa?.state?.state).toBe("running");
      expect(all.find((s) => s.name === "drover-stats-b")?.state?.state).toBe("shutoff");
      const only = await conn.allDomainStats({ domains: [b] });
      expect(only.map((s) => s.name)).toEqual(["drover-stats-b"]);
      expect(only[0]?.raw["state.state"]).toBe(5);
      expect(await conn.allDomainStats({ domains: [] })).toEqual([]);
      expect((await b.stats()).state?.state).toBe("shutoff");
      const other = await Connection.open(URI);
      try {
        await expect(other.allDomainStats({ domains: [a] })).rejects.toThrow(/this connection/);
      } finally {
        await other.close();
      }
      await a.destroy();
    } finally {
      for (const d of [a, b]) {
        await d.undefine();
        d.free();
      }
    }
  });

  it("marshals migrateToUri3 params and flags, and reports the driver's refusal", async () => {
    const dom = await conn.lookupDomain("test");
    try {
      const err = await dom
        .migrateToUri3(
          "qemu+tcp://127.0.0.1:1/system",
          { uri: "tcp://127.0.0.1:1", bandwidthMiBs: 10, migrateDisks: ["vda"] },
          MigrateFlags.LIVE | MigrateFlags.PEER2PEER,
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LibvirtError);
      expect((err as LibvirtError).libvirtCode).toBe(ErrorCode.ARGUMENT_UNSUPPORTED);
      await expect(dom.migrateToUri3("x", {}, 1 << 30)).rejects.toThrow(/flags/);
      await expect(dom.migrateToUri3("x", { bandwidthMiBs: 1.5 }, 0)).rejects.toThrow(/bandwidthMiBs/);
      await expect(dom.jobStats()).rejects.toMatchObject({ libvirtCode: ErrorCode.NO_SUPPORT });
      await expect(dom.abortJob()).rejects.toMatchObject({ libvirtCode: ErrorCode.NO_SUPPORT });
      await expect(dom.setMaxDowntimeMs(-5)).rejects.toThrow(LibvirtArgumentError);
      await expect(dom.startDirtyRateCalc(1)).rejects.toBeInstanceOf(LibvirtError);
    } finally {
      dom.free();
    }
  });

  it("runs a blocking call on its own thread while other calls and the main thread go on", async () => {
    // Start four threads first: this measures concurrency, not thread start-up on a loaded machine.
    await Promise.all([1, 2, 3, 4].map(() => pool.call("sleepMs", 50)));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const t0 = Date.now();
    const slow = pool.call("sleepMs", 1500).then(() => Date.now() - t0);
    const fast = await Promise.all([conn.nodeInfo(), conn.listDomains(), conn.hostname()]).then(() => Date.now() - t0);
    const slowMs = await slow;
    clearInterval(timer);
    expect(fast).toBeLessThan(slowMs);
    expect(slowMs).toBeGreaterThanOrEqual(1490);
    expect(ticks).toBeGreaterThan(10); // the event loop kept turning
  });

  it("reconnects: domains look themselves up again and events keep flowing", async () => {
    const c = await Connection.open(URI);
    const dom = await c.defineXml(testDomainXml("drover-reconnect"));
    const seen: string[] = [];
    c.onLifecycle((e) => {
      if (e.domain.name === "drover-reconnect") seen.push(e.event);
    });
    try {
      await c.reconnect();
      // Concurrent first calls after the reconnect share one lookup of the new handle.
      expect(new Set(await Promise.all([dom.ptr(), dom.ptr(), dom.ptr()])).size).toBe(1);
      await dom.start();
      expect((await dom.info()).state).toBe("running");
      await expect.poll(() => seen, { timeout: 10_000, interval: 10, message: "the started event" }).toContain("started");
      await dom.destroy();
      await dom.undefine();
    } finally {
      dom.free();
      await c.close();
    }
  });

  it("reports close to listeners and refuses calls afterwards", async () => {
    const c = await Connection.open(URI, { readOnly: true });
    const reasons: string[] = [];
    c.onClose((r) => reasons.push(r));
    await expect(c.defineXml(testDomainXml("ro"))).rejects.toMatchObject({ libvirtCode: ErrorCode.OPERATION_DENIED });
    await c.close();
    expect(reasons).toEqual(["client"]);
    expect(await c.isAlive()).toBe(false);
    await expect(c.nodeInfo()).rejects.toMatchObject({ code: "connection-closed" });
    await c.close(); // idempotent
  });
});
