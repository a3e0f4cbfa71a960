import { createSocket, type Socket } from "node:dgram";
import { badOption } from "./errors.js";

const MAC = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i;

function macBytes(mac: string): Buffer {
  const m = MAC.exec(mac);
  if (!m) throw badOption("MAC address", mac, "six hex octets separated by ':'");
  return Buffer.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

/** The Wake-on-LAN magic packet: 6 x 0xFF, then the MAC 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const m = macBytes(mac);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => m)]);
}

/** The MAC a magic packet wakes, or undefined when the payload is not one (a SecureOn password may follow). */
export function parseMagicPacket(buf: Buffer): string | undefined {
  if (buf.length < 102) return undefined;
  for (let i = 0; i < 6; i++) if (buf[i] !== 0xff) return undefined;
  const mac = buf.subarray(6, 12);
  for (let k = 1; k < 16; k++) if (!buf.subarray(6 + k * 6, 12 + k * 6).equals(mac)) return undefined;
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Sends a magic packet by unicast UDP. The lab only ever sends to a loopback lab address (or one
 * inside a lab namespace): never a broadcast from the root namespace (ARCHITECTURE.md, "The lab").
 */
export async function sendWakeOnLan(mac: string, address: string, port = 9): Promise<void> {
  if (!/^(127\.|198\.1[89]\.)/.test(address))
    throw badOption("wake address", address, "a lab address (127.x.y.z, or 198.18.x.y in namespace mode)");
  const pkt = magicPacket(mac);
  const sock = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => sock.send(pkt, port, address, (e) => (e ? reject(e) : resolve())));
  } finally {
    sock.close();
  }
}

/** The "NIC" of a powered-off lab host: a UDP listener on its address that calls `onWake` for its MAC. */
export class WakeListener {
  private constructor(private readonly sock: Socket) {}

  static async listen(address: string, port: number, mac: string, onWake: () => void): Promise<WakeListener> {
    const want = macBytes(mac).toString("hex").match(/../g)?.join(":");
    const sock = createSocket({ type: "udp4", reuseAddr: false });
    sock.on("message", (msg) => {
      if (parseMagicPacket(msg) === want) onWake();
    });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, address, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    sock.on("error", () => undefined);
    return new WakeListener(sock);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
