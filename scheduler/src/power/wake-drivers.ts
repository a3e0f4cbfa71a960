// Ways to wake a powered-off host. All behind one interface so tests can swap what cannot run
// here (a BMC) for a fake executable, never for a fake driver.
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { DroverError, cannotRead } from "@drover/protocol";
import { sendMagicPacket, WolError, type WolErrorCode } from "@drover/wol";
import type { PowerConfig } from "../config.js";

export interface WakeDriver {
  readonly method: string;
  /** Sends the wake; resolves once sent (the host is awake only when its agent reports). */
  wake(host: string, cfg: PowerConfig): Promise<void>;
}

export class WakeError extends DroverError {
  override readonly name = "WakeError";
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The codes this driver reported before WoL moved to @drover/wol (the API shows them as `wake.<code>`). */
const WAKE_CODES: Record<WolErrorCode, string> = {
  "bad-mac": "bad-mac",
  "unsafe-address": "config",
  "bad-port": "config",
  "send-failed": "send",
};

/** Wake-on-LAN from the scheduler itself: one unicast magic packet under @drover/wol's address rule. */
export class UdpWolDriver implements WakeDriver {
  readonly method = "wol";
  async wake(host: string, cfg: PowerConfig): Promise<void> {
    if (!cfg.mac || !cfg.address) throw new WakeError("config", `host ${host}: wol needs mac and address`);
    try {
      await sendMagicPacket({ mac: cfg.mac, address: cfg.address, port: cfg.port }, { labSafe: false });
    } catch (e) {
      if (!(e instanceof WolError)) throw e;
      throw new WakeError(WAKE_CODES[e.code], `host ${host}: ${e.message}`, { cause: e });
    }
  }
}

/**
 * Why ipmitool could not get a BMC password where the config says it is, or null: the file is not
 * readable, or the environment variable is not set. A wake checks it; so do the scheduler's start
 * (a warning) and `--check`.
 */
export async function bmcPasswordProblem(
  ipmi: NonNullable<PowerConfig["ipmi"]>,
  env: NodeJS.ProcessEnv,
): Promise<{ key: "passwordFile" | "passwordEnv"; message: string } | null> {
  const file = ipmi.passwordFile;
  if (file !== undefined)
    return access(file, constants.R_OK).then(
      () => null,
      (e: unknown) => ({
        key: "passwordFile",
        message: cannotRead(file, e),
      }),
    );
  return ipmi.passwordEnv !== undefined && env[ipmi.passwordEnv] !== undefined
    ? null
    : { key: "passwordEnv", message: `environment variable ${ipmi.passwordEnv} is not set` };
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
    const problem = await bmcPasswordProblem(ipmi, this.env);
    if (problem) throw new WakeError("config", `host ${host}: BMC password (ipmi.${problem.key}): ${problem.message}`);
    const env = { ...this.env };
    if (ipmi.passwordFile !== undefined) args.push("-f", ipmi.passwordFile);
    else {
      env.IPMI_PASSWORD = this.env[ipmi.passwordEnv!];
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
