// koffi declarations of the libvirt C API, loaded once per thread that calls libvirt.
// Handles (virConnectPtr, virDomainPtr) are declared as uintptr_t so that they cross thread
// boundaries as plain numbers (user-space addresses on x86_64 are < 2^47, exact in a double);
// pointers that never leave a thread (typed-parameter arrays, out buffers) stay koffi pointers.
import koffi from "koffi";

export type Ptr = unknown; // opaque koffi pointer value (External)
type Fn<A extends unknown[], R> = (...args: A) => R;

const lib = koffi.load("libvirt.so.0");
// Creates libvirt's thread-local error key among other things. Calls that do not go through a
// connection (virTypedParamsAdd*, virGetLastError) would otherwise read some other library's
// thread-local slot. Idempotent and thread-safe.
if ((lib.func("int virInitialize(void)") as () => number)() < 0) throw new Error("virInitialize failed");

export const VirError = koffi.struct("drover_virError", {
  code: "int",
  domain: "int",
  message: "const char *",
  level: "int",
  conn: "void *",
  dom: "void *",
  str1: "const char *",
  str2: "const char *",
  str3: "const char *",
  int1: "int",
  int2: "int",
  net: "void *",
});
export interface VirErrorRecord {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

export const VirNodeInfo = koffi.struct("drover_virNodeInfo", {
  model: "char[32]",
  memory: "unsigned long",
  cpus: "unsigned int",
  mhz: "int",
  nodes: "unsigned int",
  sockets: "unsigned int",
  cores: "unsigned int",
  threads: "unsigned int",
});
export const VirDomainInfo = koffi.struct("drover_virDomainInfo", {
  state: "unsigned char",
  maxMem: "unsigned long",
  memory: "unsigned long",
  nrVirtCpu: "unsigned short",
  cpuTime: "unsigned long long",
});
export const VirDomainStatsRecord = koffi.struct("drover_virDomainStatsRecord", {
  dom: "uintptr_t",
  params: "void *",
  nparams: "int",
});
/** sizeof(virTypedParameter): char field[80]; int type; (pad) union value (8 bytes). */
export const TYPED_PARAM_SIZE = 96;
export const TYPED_PARAM_TYPE_OFFSET = 80;
export const TYPED_PARAM_VALUE_OFFSET = 88;

const HeapStr = koffi.disposable("drover_HeapStr", "str");
void HeapStr;

function f<A extends unknown[], R>(proto: string): Fn<A, R> {
  return lib.func(proto) as unknown as Fn<A, R>;
}

export const virt = {
  virGetLastError: f<[], Ptr | null>("void *virGetLastError(void)"),
  virResetLastError: f<[], void>("void virResetLastError(void)"),
  virSetErrorFunc: f<[Ptr | null, Ptr], void>("void virSetErrorFunc(void *userData, void *handler)"),

  virEventRegisterDefaultImpl: f<[], number>("int virEventRegisterDefaultImpl(void)"),
  virEventRunDefaultImpl: f<[], number>("int virEventRunDefaultImpl(void)"),
  virEventAddTimeout: f<[number, Ptr, Ptr | null, Ptr | null], number>(
    "int virEventAddTimeout(int frequency, void *cb, void *opaque, void *ff)",
  ),
  virEventUpdateTimeout: f<[number, number], void>("void virEventUpdateTimeout(int timer, int frequency)"),
  virEventRemoveTimeout: f<[number], number>("int virEventRemoveTimeout(int timer)"),

  virConnectOpen: f<[string], number>("uintptr_t virConnectOpen(const char *name)"),
  virConnectOpenReadOnly: f<[string], number>("uintptr_t virConnectOpenReadOnly(const char *name)"),
  virConnectClose: f<[number], number>("int virConnectClose(uintptr_t conn)"),
  virConnectSetKeepAlive: f<[number, number, number], number>(
    "int virConnectSetKeepAlive(uintptr_t conn, int interval, unsigned int count)",
  ),
  virConnectIsAlive: f<[number], number>("int virConnectIsAlive(uintptr_t conn)"),
  virConnectDomainEventRegisterAny: f<[number, number, number, Ptr, Ptr | null, Ptr | null], number>(
    "int virConnectDomainEventRegisterAny(uintptr_t conn, uintptr_t dom, int eventID, void *cb, void *opaque, void *freecb)",
  ),
  virConnectDomainEventDeregisterAny: f<[number, number], number>("int virConnectDomainEventDeregisterAny(uintptr_t conn, int callbackID)"),
  virConnectGetLibVersion: f<[number, [number]], number>("int virConnectGetLibVersion(uintptr_t conn, _Out_ unsigned long *libVer)"),
  virConnectGetVersion: f<[number, [number]], number>("int virConnectGetVersion(uintptr_t conn, _Out_ unsigned long *hvVer)"),
  virConnectGetType: f<[number], string | null>("const char *virConnectGetType(uintptr_t conn)"),
  virConnectGetHostname: f<[number], string | null>("drover_HeapStr virConnectGetHostname(uintptr_t conn)"),
  virConnectGetCapabilities: f<[number], string | null>("drover_HeapStr virConnectGetCapabilities(uintptr_t conn)"),
  virConnectCompareCPU: f<[number, string, number], number>(
    "int virConnectCompareCPU(uintptr_t conn, const char *xmlDesc, unsigned int flags)",
  ),
  virConnectCompareHypervisorCPU: f<[number, string | null, string | null, string | null, string | null, string, number], number>(
    "int virConnectCompareHypervisorCPU(uintptr_t conn, const char *emulator, const char *arch, const char *machine, const char *virttype, const char *xmlCPU, unsigned int flags)",
  ),
  virNodeGetInfo: f<[number, Record<string, unknown>], number>("int virNodeGetInfo(uintptr_t conn, _Out_ drover_virNodeInfo *info)"),
  virNodeGetFreeMemory: f<[number], number | bigint>("unsigned long long virNodeGetFreeMemory(uintptr_t conn)"),
  virConnectListAllDomains: f<[number, [Ptr | null], number], number>(
    "int virConnectListAllDomains(uintptr_t conn, _Out_ void **domains, unsigned int flags)",
  ),
  virConnectGetAllDomainStats: f<[number, number, [Ptr | null], number], number>(
    "int virConnectGetAllDomainStats(uintptr_t conn, unsigned int stats, _Out_ void **retStats, unsigned int flags)",
  ),
  virDomainListGetStats: f<[number[], number, [Ptr | null], number], number>(
    "int virDomainListGetStats(uintptr_t *doms, unsigned int stats, _Out_ void **retStats, unsigned int flags)",
  ),
  virDomainStatsRecordListFree: f<[Ptr], void>("void virDomainStatsRecordListFree(void *stats)"),

  virDomainLookupByName: f<[number, string], number>("uintptr_t virDomainLookupByName(uintptr_t conn, const char *name)"),
  virDomainLookupByUUIDString: f<[number, string], number>("uintptr_t virDomainLookupByUUIDString(uintptr_t conn, const char *uuid)"),
  virDomainDefineXML: f<[number, string], number>("uintptr_t virDomainDefineXML(uintptr_t conn, const char *xml)"),
  virDomainRef: f<[number], number>("int virDomainRef(uintptr_t dom)"),
  virDomainFree: f<[number], number>("int virDomainFree(uintptr_t dom)"),
  virDomainGetName: f<[number], string | null>("const char *virDomainGetName(uintptr_t dom)"),
  virDomainGetUUIDString: f<[number, Buffer], number>("int virDomainGetUUIDString(uintptr_t dom, _Out_ uint8_t *buf)"),
  virDomainGetID: f<[number], number>("unsigned int virDomainGetID(uintptr_t dom)"),
  virDomainIsPersistent: f<[number], number>("int virDomainIsPersistent(uintptr_t dom)"),
  virDomainIsActive: f<[number], number>("int virDomainIsActive(uintptr_t dom)"),
  virDomainGetState: f<[number, [number], [number], number], number>(
    "int virDomainGetState(uintptr_t dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)",
  ),
  virDomainGetInfo: f<[number, Record<string, unknown>], number>("int virDomainGetInfo(uintptr_t dom, _Out_ drover_virDomainInfo *info)"),
  virDomainGetXMLDesc: f<[number, number], string | null>("drover_HeapStr virDomainGetXMLDesc(uintptr_t dom, unsigned int flags)"),
  virDomainCreate: f<[number], number>("int virDomainCreate(uintptr_t dom)"),
  virDomainDestroy: f<[number], number>("int virDomainDestroy(uintptr_t dom)"),
  virDomainUndefineFlags: f<[number, number], number>("int virDomainUndefineFlags(uintptr_t dom, unsigned int flags)"),
  virDomainSuspend: f<[number], number>("int virDomainSuspend(uintptr_t dom)"),
  virDomainResume: f<[number], number>("int virDomainResume(uintptr_t dom)"),
  virDomainSetMetadata: f<[number, number, string | null, string | null, string | null, number], number>(
    "int virDomainSetMetadata(uintptr_t dom, int type, const char *metadata, const char *key, const char *uri, unsigned int flags)",
  ),

  virDomainMigrateToURI3: f<[number, string | null, Ptr | null, number, number], number>(
    "int virDomainMigrateToURI3(uintptr_t dom, const char *dconnuri, void *params, unsigned int nparams, unsigned int flags)",
  ),
  virDomainGetJobStats: f<[number, [number], [Ptr | null], [number], number], number>(
    "int virDomainGetJobStats(uintptr_t dom, _Out_ int *type, _Out_ void **params, _Out_ int *nparams, unsigned int flags)",
  ),
  virDomainAbortJob: f<[number], number>("int virDomainAbortJob(uintptr_t dom)"),
  virDomainMigrateSetMaxDowntime: f<[number, number, number], number>(
    "int virDomainMigrateSetMaxDowntime(uintptr_t dom, unsigned long long downtime, unsigned int flags)",
  ),
  virDomainMigrateGetMaxDowntime: f<[number, [number], number], number>(
    "int virDomainMigrateGetMaxDowntime(uintptr_t dom, _Out_ unsigned long long *downtime, unsigned int flags)",
  ),
  virDomainMigrateSetMaxSpeed: f<[number, number, number], number>(
    "int virDomainMigrateSetMaxSpeed(uintptr_t dom, unsigned long bandwidth, unsigned int flags)",
  ),
  virDomainMigrateGetMaxSpeed: f<[number, [number], number], number>(
    "int virDomainMigrateGetMaxSpeed(uintptr_t dom, _Out_ unsigned long *bandwidth, unsigned int flags)",
  ),
  virDomainMigrateStartPostCopy: f<[number, number], number>("int virDomainMigrateStartPostCopy(uintptr_t dom, unsigned int flags)"),
  virDomainStartDirtyRateCalc: f<[number, number, number], number>(
    "int virDomainStartDirtyRateCalc(uintptr_t dom, int seconds, unsigned int flags)",
  ),

  virStoragePoolLookupByTargetPath: f<[number, string], number>(
    "uintptr_t virStoragePoolLookupByTargetPath(uintptr_t conn, const char *path)",
  ),
  virStoragePoolCreateXML: f<[number, string, number], number>(
    "uintptr_t virStoragePoolCreateXML(uintptr_t conn, const char *xmlDesc, unsigned int flags)",
  ),
  virStoragePoolIsActive: f<[number], number>("int virStoragePoolIsActive(uintptr_t pool)"),
  virStoragePoolRefresh: f<[number, number], number>("int virStoragePoolRefresh(uintptr_t pool, unsigned int flags)"),
  virStoragePoolDestroy: f<[number], number>("int virStoragePoolDestroy(uintptr_t pool)"),
  virStoragePoolFree: f<[number], number>("int virStoragePoolFree(uintptr_t pool)"),
  virStorageVolCreateXML: f<[number, string, number], number>(
    "uintptr_t virStorageVolCreateXML(uintptr_t pool, const char *xmlDesc, unsigned int flags)",
  ),
  virStorageVolLookupByName: f<[number, string], number>("uintptr_t virStorageVolLookupByName(uintptr_t pool, const char *name)"),
  virStorageVolDelete: f<[number, number], number>("int virStorageVolDelete(uintptr_t vol, unsigned int flags)"),
  virStorageVolFree: f<[number], number>("int virStorageVolFree(uintptr_t vol)"),

  virTypedParamsAddString: f<[[Ptr | null], [number], [number], string, string], number>(
    "int virTypedParamsAddString(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, const char *value)",
  ),
  virTypedParamsAddInt: f<[[Ptr | null], [number], [number], string, number], number>(
    "int virTypedParamsAddInt(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, int value)",
  ),
  virTypedParamsAddULLong: f<[[Ptr | null], [number], [number], string, number], number>(
    "int virTypedParamsAddULLong(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, unsigned long long value)",
  ),
  virTypedParamsFree: f<[Ptr | null, number], void>("void virTypedParamsFree(void *params, int nparams)"),

  /** libc free() for arrays libvirt hands over (e.g. from virConnectListAllDomains). */
  free: (p: Ptr): void => koffi.free(p),
};

/** A native function that ignores its (userData, error) arguments: virResetError(NULL) returns at
 * once. Used as the process-wide error handler so libvirt does not print every error to stderr,
 * without a JS callback (which koffi could only run on the thread that created it). */
export const silentErrorHandler: Ptr = lib.symbol("virResetError", koffi.opaque());
// Process-wide, set by whichever thread loads this first; setting it again is harmless.
virt.virSetErrorFunc(null, silentErrorHandler);

export { koffi };
