// Wake-on-LAN, written once: the magic packet, the address rule, the send and the lab's listener.
// The agent (peer wake), the scheduler (its own wake driver) and the lab all call this module.
import { DroverError } from "@drover/protocol";
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";

/** The discard port, where WoL NICs listen by convention (protocol and scheduler config default to it too). */
export const WOL_PORT = 9;

export type WolErrorCode = "bad-mac" | "unsafe-address" | "bad-port" | "send-failed";

/** A Wake-on-LAN refusal or failure; `code` names which. */
export class WolError extends DroverError {
  override readonly name = "WolError";
  constructor(
    readonly code: WolErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

/** The six bytes of a MAC written `02:d7:00:00:09:01` (or with `-`). */
export function parseMac(mac: string): Buffer {
  if (!MAC.test(mac))
    throw new WolError("bad-mac", `bad MAC address ${JSON.stringify(mac)}: expected six hex octets like 02:00:00:00:00:01`);
  return Buffer.from(mac.replace(/[:-]/g, ""), "hex");
}

/** 6 x 0xFF, then the MAC 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const m = parseMac(mac);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => m)]);
}

/** The MAC a magic packet wakes (lower case, `:`), or undefined when the payload is not one (a SecureOn password may follow). */
export function parseMagicPacket(buf: Buffer): string | undefined {
  if (buf.length < 102) return undefined;
  for (let i = 0; i < 6; i++) if (buf[i] !== 0xff) return undefined;
  const mac = buf.subarray(6, 12);
  for (let k = 1; k < 16; k++) if (!buf.subarray(6 + k * 6, 12 + k * 6).equals(mac)) return undefined;
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Where a lab may send: loopback (127.0.0.0/8, ::1) and the lab's namespace range 198.18.0.0/15
 * (RFC 2544 benchmarking, never routed), which exists only inside the namespaces the lab creates.
 */
export function isLabAddress(addr: string): boolean {
  if (isIP(addr) === 6) return addr === "::1";
  return isIP(addr) === 4 && /^(127\.|198\.1[89]\.)/.test(addr);
}

export interface WakeAddressRule {
  /** Allow only lab addresses (isLabAddress): the agent's `labSafeNetwork` and every lab sender. */
  labSafe: boolean;
}

/**
 * The one address rule. A magic packet goes by unicast to the host's own address: a literal IP,
 * never a name (no resolver surprise), never a broadcast (limited or a directed `.255`), never
 * multicast or unspecified, so nothing floods a segment from the root namespace. With `labSafe`,
 * only lab addresses. Throws a WolError ("unsafe-address") naming the reason; nothing is sent.
 */
export function checkWakeAddress(addr: string, rule: WakeAddressRule): void {
  const refuse = (why: string) => new WolError("unsafe-address", `wake address ${JSON.stringify(addr)}: ${why}`);
  const v = isIP(addr);
  if (v === 0) throw refuse("must be a literal IP address");
  if (v === 4) {
    const o = addr.split(".").map(Number) as [number, number, number, number];
    if (o[3] === 255 || addr === "0.0.0.0") throw refuse("broadcast addresses are refused; use the host's unicast address");
    if (o[0] >= 224) throw refuse("multicast/reserved addresses are refused");
  } else {
    if (/^ff/i.test(addr)) throw refuse("multicast addresses are refused");
    if (addr === "::") throw refuse("the unspecified address is refused");
  }
  if (rule.labSafe && !isLabAddress(addr)) throw refuse("labSafeNetwork allows only 127.0.0.0/8 and the lab namespaces' 198.18.0.0/15");
}

export interface WakeTarget {
  mac: string;
  address: string;
  /** UDP port; WOL_PORT when absent. */
  port?: number;
}

/**
 * Checks the address (and MAC, port), then sends one magic packet by unicast UDP. Never sets
 * SO_BROADCAST. Resolves with the bytes sent; a refusal or a failed send is a WolError.
 */
export async function sendMagicPacket(target: WakeTarget, rule: WakeAddressRule): Promise<number> {
  const port = target.port ?? WOL_PORT;
  checkWakeAddress(target.address, rule);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new WolError("bad-port", `wake port ${JSON.stringify(port)}: expected 1..65535`);
  const pkt = magicPacket(target.mac);
  const sock = createSocket(isIP(target.address) === 6 ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => sock.send(pkt, port, target.address, (e) => (e ? reject(e) : resolve())));
  } catch (e) {
    throw new WolError("send-failed", `magic packet to ${target.address}:${port} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    sock.close();
  }
  return pkt.length;
}

/** A NIC that waits for its magic packet: a UDP listener on `address:port` calling `onWake` for packets naming `mac`. */
export class WakeListener {
  private constructor(
    private readonly sock: Socket,
    /** The bound port (useful when listening on port 0). */
    readonly port: number,
  ) {}

  static async listen(address: string, port: number, mac: string, onWake: () => void): Promise<WakeListener> {
    const want = [...parseMac(mac)].map((b) => b.toString(16).padStart(2, "0")).join(":");
    const sock = createSocket({ type: isIP(address) === 6 ? "udp6" : "udp4", reuseAddr: false });
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
    // A NIC outlives a malformed datagram: errors after binding are not fatal.
    sock.on("error", () => undefined);
    return new WakeListener(sock, sock.address().port);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
