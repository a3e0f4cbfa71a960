import { DroverError } from "@drover/protocol";
import { ErrorCode } from "./constants.js";

/** The fields of libvirt's virError that cross from a worker thread to the caller. */
export interface LibvirtErrorInfo {
  code: number;
  domain: number;
  level: number;
  message: string;
  str1?: string | null;
  str2?: string | null;
  str3?: string | null;
  int1?: number;
  int2?: number;
}

const CODE_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, "-")]));

/**
 * A libvirt call failed: `libvirtCode` is virErrorNumber (e.g. 42 = VIR_ERR_NO_DOMAIN, compare with
 * ErrorCode), `code` its Drover spelling (`libvirt.no-domain`; `libvirt.error-<n>` for numbers
 * ErrorCode does not name), `domain` is virErrorDomain (which subsystem raised it), `level` is
 * virErrorLevel (1 warning, 2 error).
 */
export class LibvirtError extends DroverError {
  override readonly name = "LibvirtError";
  readonly code: string;
  readonly libvirtCode: number;
  readonly domain: number;
  readonly level: number;
  readonly libvirtMessage: string;
  /** The libvirt function that failed, e.g. "virDomainLookupByName". */
  readonly call: string;
  readonly str1: string | null;
  readonly int1: number;

  constructor(call: string, info: LibvirtErrorInfo, options?: ErrorOptions) {
    super(`${call}: ${info.message} (libvirt code ${info.code}, domain ${info.domain})`, options);
    this.call = call;
    this.libvirtCode = info.code;
    this.code = `libvirt.${CODE_NAMES.get(info.code) ?? `error-${info.code}`}`;
    this.domain = info.domain;
    this.level = info.level;
    this.libvirtMessage = info.message;
    this.str1 = info.str1 ?? null;
    this.int1 = info.int1 ?? -1;
  }
}

/** Bad input to this package's API (caught before any libvirt call). */
export class LibvirtArgumentError extends DroverError {
  override readonly name = "LibvirtArgumentError";
  readonly code = "invalid-argument";
}

/** Use of a handle after close()/free(), or a worker thread that died. */
export class LibvirtStateError extends DroverError {
  override readonly name = "LibvirtStateError";
  readonly code: "connection-closed" | "domain-freed" | "worker-failed";
  constructor(code: LibvirtStateError["code"], message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Structurally identical to @drover/protocol's pino-compatible Logger (libvirt may not import it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
