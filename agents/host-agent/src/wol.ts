import { createSocket } from "node:dgram";
import { isIP } from "node:net";
import { AgentError, AgentErrorCode } from "./errors.js";

/** 6 x 0xFF then the MAC 16 times (102 bytes). */
export function magicPacket(mac: string): Buffer {
  const hex = mac.replace(/[:-]/g, "");
  if (!/^[0-9a-f]{12}$/i.test(hex)) throw new AgentError(AgentErrorCode.UnsafeAddress, `bad MAC address ${JSON.stringify(mac)}`);
  const macBytes = Buffer.from(hex, "hex");
  const out = Buffer.alloc(6 + 16 * 6, 0xff);
  for (let i = 0; i < 16; i++) macBytes.copy(out, 6 + i * 6);
  return out;
}

export const isLoopback = (addr: string): boolean => isIP(addr) === 4 && addr.startsWith("127.");

/**
 * Refuses what must never be sent: non-literal or broadcast/multicast addresses always; with
 * `labSafe`, anything outside 127.0.0.0/8 (the lab's network rule).
 */
export function checkWakeAddress(addr: string, labSafe: boolean): void {
  const v = isIP(addr);
  if (v === 0) throw new AgentError(AgentErrorCode.UnsafeAddress, `wake address ${JSON.stringify(addr)}: must be a literal IP address`);
  if (v === 4) {
    const o = addr.split(".").map(Number);
    if (o[3] === 255 || addr === "255.255.255.255" || addr === "0.0.0.0") {
      throw new AgentError(
        AgentErrorCode.UnsafeAddress,
        `wake address ${addr}: broadcast addresses are refused; use the host's unicast address`,
      );
    }
    if ((o[0] as number) >= 224)
      throw new AgentError(AgentErrorCode.UnsafeAddress, `wake address ${addr}: multicast/reserved addresses are refused`);
  } else if (/^ff/i.test(addr)) {
    throw new AgentError(AgentErrorCode.UnsafeAddress, `wake address ${addr}: multicast addresses are refused`);
  }
  if (labSafe && !isLoopback(addr)) {
    throw new AgentError(AgentErrorCode.UnsafeAddress, `wake address ${addr}: labSafeNetwork allows only 127.0.0.0/8`);
  }
}

/** Sends one magic packet by unicast UDP. Never sets SO_BROADCAST. */
export async function sendMagicPacket(mac: string, address: string, port: number, labSafe: boolean): Promise<number> {
  checkWakeAddress(address, labSafe);
  const pkt = magicPacket(mac);
  const sock = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => sock.send(pkt, port, address, (e) => (e ? reject(e) : resolve())));
  } finally {
    sock.close();
  }
  return pkt.length;
}
