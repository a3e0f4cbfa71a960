// virTypedParameter arrays: read them out of libvirt memory, and build them for libvirt with its
// own virTypedParamsAdd* helpers (so that libvirt owns the allocation and virTypedParamsFree fits).
import { TypedParamType } from "../constants.js";
import type { Ptr } from "./bindings.js";
import { koffi, TYPED_PARAM_SIZE, TYPED_PARAM_TYPE_OFFSET, TYPED_PARAM_VALUE_OFFSET, virt } from "./bindings.js";
import { check } from "./last-error.js";

export type TypedValue = number | string | boolean;
/** One decoded parameter; names can repeat (e.g. "migrate_disks"). */
export type TypedPair = readonly [name: string, value: TypedValue];

export type TypedEntry = { name: string; type: "int" | "ullong"; value: number } | { name: string; type: "string"; value: string };

const decoder = new TextDecoder();

/** Copies `n` parameters out of `ptr` (which the caller still frees). 64-bit values become
 * numbers: counters and byte sizes stay far below 2^53. */
export function readTypedParams(ptr: Ptr | null, n: number): TypedPair[] {
  if (ptr === null || n <= 0) return [];
  const bytes = new Uint8Array(koffi.view(ptr, n * TYPED_PARAM_SIZE).slice(0));
  const view = new DataView(bytes.buffer);
  const out: TypedPair[] = [];
  for (let i = 0; i < n; i++) {
    const base = i * TYPED_PARAM_SIZE;
    const nul = bytes.indexOf(0, base);
    const name = decoder.decode(bytes.subarray(base, nul < 0 || nul > base + 80 ? base + 80 : nul));
    const type = view.getInt32(base + TYPED_PARAM_TYPE_OFFSET, true);
    const at = base + TYPED_PARAM_VALUE_OFFSET;
    let value: TypedValue;
    switch (type) {
      case TypedParamType.INT:
        value = view.getInt32(at, true);
        break;
      case TypedParamType.UINT:
        value = view.getUint32(at, true);
        break;
      case TypedParamType.LLONG:
        value = Number(view.getBigInt64(at, true));
        break;
      case TypedParamType.ULLONG:
        value = Number(view.getBigUint64(at, true));
        break;
      case TypedParamType.DOUBLE:
        value = view.getFloat64(at, true);
        break;
      case TypedParamType.BOOLEAN:
        value = view.getInt8(at) !== 0;
        break;
      case TypedParamType.STRING:
        value = (koffi.decode(ptr, at, "const char *") as string | null) ?? "";
        break;
      default:
        continue; // a type newer than this code: skip rather than guess
    }
    out.push([name, value]);
  }
  return out;
}

/** Builds a libvirt-allocated virTypedParameter array, hands it to `use`, and always frees it. */
export function withTypedParams<T>(entries: readonly TypedEntry[], use: (params: Ptr | null, n: number) => T): T {
  const params: [Ptr | null] = [null];
  const n: [number] = [0];
  const max: [number] = [0];
  try {
    for (const e of entries) {
      const rc =
        e.type === "string"
          ? virt.virTypedParamsAddString(params, n, max, e.name, e.value)
          : e.type === "int"
            ? virt.virTypedParamsAddInt(params, n, max, e.name, e.value)
            : virt.virTypedParamsAddULLong(params, n, max, e.name, e.value);
      check(rc, `virTypedParamsAdd(${e.name})`);
    }
    return use(params[0], n[0]);
  } finally {
    if (params[0] !== null) virt.virTypedParamsFree(params[0], n[0]);
  }
}
