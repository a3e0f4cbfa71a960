// Ways to wake a powered-off host. All behind one interface so tests can swap what cannot run
// here (a BMC) for a fake executable, never for a fake driver.
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { isIP } from "node:net";
import type { PowerConfig } from "../config.js";

export interface WakeDriver {
  readonly method: string;
  /** Sends the wake; resolves once sent (the host is awake only when its agent reports). */
  wake(host: string, cfg: PowerConfig): Promise<void>;
}

export class WakeError extends Error {
  override readonly name = "WakeError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** 6 x 0xff then the MAC 16 times. */
export function magicPacket(mac: string): Buffer {
  const bytes = mac.split(":").map((h) => parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255))
    throw new WakeError("bad-mac", `invalid MAC ${mac}`);
  const buf = Buffer.alloc(102, 0xff);
  for (let i = 0; i < 16; i++) Buffer.from(bytes).copy(buf, 6 + i * 6);
  return buf;
}

/** Wake-on-LAN from the scheduler itself: a UDP unicast magic packet (never a broadcast). */
export class UdpWolDriver implements WakeDriver {
  readonly method = "wol";
  async wake(host: string, cfg: PowerConfig): Promise<void> {
    if (!cfg.mac || !cfg.address) throw new WakeError("config", `host ${host}: wol needs mac and address`);
    if (isIP(cfg.address) !== 4 || cfg.address.endsWith(".255")) {
      throw new WakeError("config", `host ${host}: wol address must be a unicast IPv4 address, got ${cfg.address}`);
    }
    const packet = magicPacket(cfg.mac);
    const sock = createSocket("udp4");
    try {
      await new Promise<void>((resolve, reject) => sock.send(packet, cfg.port, cfg.address, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      throw new WakeError("send", `magic packet to ${cfg.address}:${cfg.port} failed: ${(e as Error).message}`, { cause: e });
    } finally {
      sock.close();
    }
  }
}

/**
 * IPMI through `ipmitool -I lanplus ... chassis power on`. The BMC password never goes on the
 * command line (any local user can read it in /proc/<pid>/cmdline): it is handed over in the
 * child's environment (`-E` reads IPMI_PASSWORD) or as a file ipmitool reads itself (`-f`).
 */
export class IpmiDriver implements WakeDriver {
  readonly method = "ipmi";
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}
  async wake(host: string, cfg: PowerConfig): Promise<void> {
    const ipmi = cfg.ipmi;
    if (!cfg.address || !ipmi) throw new WakeError("config", `host ${host}: ipmi needs address and ipmi.user`);
    const args = ["-I", "lanplus", "-H", cfg.address, "-U", ipmi.user];
    const env = { ...this.env };
    if (ipmi.passwordFile !== undefined) {
      await access(ipmi.passwordFile, constants.R_OK).catch((e: unknown) => {
        throw new WakeError("config", `host ${host}: BMC password file ${ipmi.passwordFile} is not readable: ${(e as Error).message}`);
      });
      args.push("-f", ipmi.passwordFile);
    } else {
      const password = ipmi.passwordEnv === undefined ? undefined : this.env[ipmi.passwordEnv];
      if (password === undefined)
        throw new WakeError("config", `host ${host}: BMC password not set (environment variable ${ipmi.passwordEnv})`);
      env.IPMI_PASSWORD = password;
      args.push("-E");
    }
    args.push("chassis", "power", "on");
    await new Promise<void>((resolve, reject) => {
      execFile(ipmi.ipmitool, args, { timeout: 30_000, env }, (err, _stdout, stderr) => {
        if (err) reject(new WakeError("ipmitool", `ipmitool for ${host} failed: ${String(stderr).trim() || err.message}`, { cause: err }));
        else resolve();
      });
    });
  }
}
