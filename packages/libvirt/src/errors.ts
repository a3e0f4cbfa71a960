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

/** A libvirt call failed: `code` is virErrorNumber (e.g. 42 = VIR_ERR_NO_DOMAIN), `domain` is
 * virErrorDomain (which subsystem raised it), `level` is virErrorLevel (1 warning, 2 error). */
export class LibvirtError extends Error {
  override readonly name = "LibvirtError";
  readonly code: number;
  readonly domain: number;
  readonly level: number;
  readonly libvirtMessage: string;
  /** The libvirt function that failed, e.g. "virDomainLookupByName". */
  readonly call: string;
  readonly str1: string | null;
  readonly int1: number;

  constructor(call: string, info: LibvirtErrorInfo, options?: { cause?: unknown }) {
    super(`${call}: ${info.message} (libvirt code ${info.code}, domain ${info.domain})`, options);
    this.call = call;
    this.code = info.code;
    this.domain = info.domain;
    this.level = info.level;
    this.libvirtMessage = info.message;
    this.str1 = info.str1 ?? null;
    this.int1 = info.int1 ?? -1;
  }
}

/** Bad input to this package's API (caught before any libvirt call). */
export class LibvirtArgumentError extends Error {
  override readonly name = "LibvirtArgumentError";
  readonly code = "INVALID_ARGUMENT";
}

/** Use of a handle after close()/free(), or a worker thread that died. */
export class LibvirtStateError extends Error {
  override readonly name = "LibvirtStateError";
  readonly code: "CONNECTION_CLOSED" | "DOMAIN_FREED" | "WORKER_FAILED";
  constructor(code: LibvirtStateError["code"], message: string, options?: { cause?: unknown }) {
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
