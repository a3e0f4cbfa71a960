import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { checkWakeAddress, magicPacket } from "../src/index.js";
import { sendMagicPacket } from "../src/wol.js";
import { CommandTable } from "../src/command-table.js";

describe("wake-on-LAN", () => {
  it("builds 6 x FF then the MAC 16 times", () => {
    const p = magicPacket("02:d7:00:00:15:02");
    expect(p.length).toBe(102);
    expect([...p.subarray(0, 6)]).toEqual([255, 255, 255, 255, 255, 255]);
    for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString("hex")).toBe("02d700001502");
  });

  // Pure checks: nothing is sent. 192.0.2.0/24 is TEST-NET-1 (documentation only, never routed).
  it("refuses broadcast, multicast, names, and non-loopback under labSafeNetwork", () => {
    expect(() => checkWakeAddress("255.255.255.255", false)).toThrow(/broadcast/);
    expect(() => checkWakeAddress("192.0.2.255", false)).toThrow(/broadcast/);
    expect(() => checkWakeAddress("224.0.0.1", false)).toThrow(/multicast/);
    expect(() => checkWakeAddress("kvm07", false)).toThrow(/literal IP/);
    expect(() => checkWakeAddress("192.0.2.7", true)).toThrow(/labSafeNetwork/);
    expect(() => checkWakeAddress("127.0.21.2", true)).not.toThrow();
    expect(() => checkWakeAddress("192.0.2.7", false)).not.toThrow();
  });

  it("delivers the packet by unicast UDP on loopback", async () => {
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    const port = sock.address().port;
    const got = new Promise<Buffer>((r) => sock.once("message", (m) => r(m)));
    await sendMagicPacket("02:00:00:00:00:09", "127.0.0.1", port, true);
    expect((await got).equals(magicPacket("02:00:00:00:00:09"))).toBe(true);
    sock.close();
  });
});

describe("command table", () => {
  const reply = (id: string) => ({
    v: 1 as const,
    id,
    host: "h1",
    kind: "migrate" as const,
    status: "accepted" as const,
    duplicate: false,
    error: null,
    timeMs: 1,
  });
  it("keeps the first reply per id and forgets the oldest beyond capacity", () => {
    const t = new CommandTable(2);
    expect(t.claim("a", reply("a"))).toBe(true);
    expect(t.claim("a", { ...reply("a"), status: "failed" })).toBe(false);
    expect(t.get("a")?.status).toBe("accepted");
    t.update("a", { status: "succeeded" });
    expect(t.get("a")?.status).toBe("succeeded");
    t.claim("b", reply("b"));
    t.claim("c", reply("c"));
    expect(t.get("a")).toBeUndefined();
    expect(t.size).toBe(2);
  });
});
