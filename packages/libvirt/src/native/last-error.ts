// libvirt keeps the last error per thread, so it is read here, on the thread that made the call,
// right after the call failed; the caller's thread never sees libvirt's error state.
import type { LibvirtErrorInfo } from "../errors.js";
import type { VirErrorRecord } from "./bindings.js";
import { koffi, VirError, virt } from "./bindings.js";

/** Thrown inside a worker; serialised to the caller and rebuilt there as a LibvirtError. */
export class NativeCallError extends Error {
  constructor(
    readonly call: string,
    readonly info: LibvirtErrorInfo,
  ) {
    super(`${call}: ${info.message}`);
  }
}

export function lastError(call: string): NativeCallError {
  const p = virt.virGetLastError();
  if (p === null) {
    return new NativeCallError(call, { code: 0, domain: 0, level: 2, message: "failed without a libvirt error" });
  }
  const e = koffi.decode(p, VirError) as VirErrorRecord;
  const info: LibvirtErrorInfo = {
    code: e.code,
    domain: e.domain,
    level: e.level,
    message: e.message ?? "unknown libvirt error",
    str1: e.str1,
    str2: e.str2,
    str3: e.str3,
    int1: e.int1,
    int2: e.int2,
  };
  virt.virResetLastError();
  return new NativeCallError(call, info);
}

/** Throws the thread's libvirt error when a call returned -1. */
export function check(rc: number, call: string): number {
  if (rc < 0) throw lastError(call);
  return rc;
}

/** Throws the thread's libvirt error when a call returned a NULL handle. */
export function checkPtr(p: number, call: string): number {
  if (p === 0) throw lastError(call);
  return p;
}
