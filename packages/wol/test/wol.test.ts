import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { checkWakeAddress, isLabAddress, magicPacket, parseMagicPacket, sendMagicPacket, WakeListener, WolError } from "../src/index.js";

describe("magic packet", () => {
  it("builds 6 x FF then the MAC 16 times", () => {
    const p = magicPacket("02:d7:00:00:15:02");
    expect(p.length).toBe(102);
    expect([...p.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 255]);
    for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString("hex")).toBe("02d700001502");
  });

  it("round-trips a magic packet and rejects others", () => {
    const p = magicPacket("02:d7:00:00:09:01");
    expect(parseMagicPacket(p)).toBe("02:d7:00:00:09:01");
    expect(parseMagicPacket(magicPacket("02-D7-00-00-09-0A"))).toBe("02:d7:00:00:09:0a");
    const bad = Buffer.from(p);
    bad[50] = 0x55;
    expect(parseMagicPacket(bad)).toBeUndefined();
    expect(parseMagicPacket(Buffer.alloc(102))).toBeUndefined();
    expect(parseMagicPacket(p.subarray(0, 101))).toBeUndefined();
  });

  it("refuses a malformed MAC with a WolError naming it", () => {
    for (const mac of ["02:d7:00", "02:d7:00:00:09:zz", "2:0:0:0:0:1", "02:d7-00:00:09:01", ""]) {
      expect(() => magicPacket(mac)).toThrow(/MAC/);
    }
    expect(() => magicPacket("x")).toThrow(WolError);
  });
});

// Pure checks: nothing is sent. 192.0.2.0/24 is TEST-NET-1 (documentation only, never routed).
describe("address rule", () => {
  const refuses = (addr: string, labSafe: boolean, why: RegExp) => {
    expect(() => checkWakeAddress(addr, { labSafe })).toThrow(why);
    try {
      checkWakeAddress(addr, { labSafe });
    } catch (e) {
      expect(e).toMatchObject({ name: "WolError", code: "unsafe-address" });
    }
  };

  it("refuses broadcast, multicast, names, and non-lab addresses under labSafeNetwork", () => {
    refuses("255.255.255.255", false, /broadcast/);
    refuses("192.0.2.255", false, /broadcast/);
    refuses("127.0.21.255", true, /broadcast/);
    refuses("0.0.0.0", false, /broadcast/);
    refuses("224.0.0.1", false, /multicast/);
    refuses("ff02::1", false, /multicast/);
    refuses("::", false, /unspecified/);
    refuses("kvm07", false, /literal IP/);
    refuses("192.0.2.7", true, /labSafeNetwork/);
    refuses("2001:db8::7", true, /labSafeNetwork/);
    expect(() => checkWakeAddress("127.0.21.2", { labSafe: true })).not.toThrow();
    expect(() => checkWakeAddress("198.18.21.2", { labSafe: true })).not.toThrow();
    expect(() => checkWakeAddress("192.0.2.7", { labSafe: false })).not.toThrow();
    expect(() => checkWakeAddress("2001:db8::7", { labSafe: false })).not.toThrow();
  });

  it("knows the lab's addresses", () => {
    expect(["127.0.0.1", "127.0.21.2", "198.18.0.1", "198.19.255.1", "::1"].every(isLabAddress)).toBe(true);
    expect(["192.0.2.7", "198.20.0.1", "203.0.113.5", "kvm07", "2001:db8::1"].some(isLabAddress)).toBe(false);
  });

  it("sends nothing when it refuses", async () => {
    await expect(sendMagicPacket({ mac: "02:00:00:00:00:09", address: "192.0.2.255" }, { labSafe: false })).rejects.toMatchObject({
      code: "unsafe-address",
    });
    await expect(sendMagicPacket({ mac: "02:00:00:00:00:09", address: "192.0.2.7" }, { labSafe: true })).rejects.toThrow(/labSafeNetwork/);
    await expect(sendMagicPacket({ mac: "02:00:00:00:00:09", address: "127.0.0.1", port: 70000 }, { labSafe: true })).rejects.toMatchObject(
      {
        code: "bad-port",
      },
    );
  });
});

describe("sending on loopback", () => {
  it("delivers the packet by unicast UDP", async () => {
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    const got = new Promise<Buffer>((r) => sock.once("message", (m) => r(m)));
    const bytes = await sendMagicPacket({ mac: "02:00:00:00:00:09", address: "127.0.0.1", port: sock.address().port }, { labSafe: true });
    expect(bytes).toBe(102);
    expect((await got).equals(magicPacket("02:00:00:00:00:09"))).toBe(true);
    sock.close();
  });

  it("wakes a listener for its MAC only", async () => {
    const woken: string[] = [];
    const a = await WakeListener.listen("127.0.0.1", 0, "02:00:00:00:00:0a", () => woken.push("a"));
    try {
      // Another host's packet reaches the port but does not wake it; its own does.
      await sendMagicPacket({ mac: "02:00:00:00:00:0b", address: "127.0.0.1", port: a.port }, { labSafe: true });
      await sendMagicPacket({ mac: "02:00:00:00:00:0A", address: "127.0.0.1", port: a.port }, { labSafe: true });
      await expect.poll(() => woken).toEqual(["a"]);
    } finally {
      await a.close();
    }
  });
});
