// The synchronous libvirt calls a call-worker runs. Each op is a short sequence that ends with
// every native handle it created freed (or handed back as a number the caller owns), and that
// reads libvirt's thread-local error on the same thread when a call fails.
import type { Ptr } from "./bindings.js";
import { koffi, VirDomainStatsRecord, virt } from "./bindings.js";
import { dirPoolXml } from "../storage-volume.js";
import { check, checkPtr, lastError } from "./last-error.js";
import type { TypedEntry, TypedPair } from "./typed-params.js";
import { readTypedParams, withTypedParams } from "./typed-params.js";

export interface DomainRef {
  ptr: number;
  name: string;
  uuid: string;
}

export interface RawDomainInfo {
  uuid: string;
  name: string;
  id: number | null;
  state: number;
  reason: number;
  persistent: boolean;
  active: boolean;
  maxMemKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: number;
}

export interface RawStatsRecord {
  name: string;
  uuid: string;
  params: TypedPair[];
}

function uuidOf(dom: number): string {
  const buf = Buffer.alloc(37);
  check(virt.virDomainGetUUIDString(dom, buf), "virDomainGetUUIDString");
  return buf.toString("latin1", 0, 36);
}

function refOf(dom: number): DomainRef {
  return { ptr: dom, name: virt.virDomainGetName(dom) ?? "", uuid: uuidOf(dom) };
}

function versionString(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}

function domInfo(dom: number): Omit<RawDomainInfo, "uuid" | "name" | "id" | "persistent" | "active"> {
  const info: Record<string, number> = {};
  check(virt.virDomainGetInfo(dom, info), "virDomainGetInfo");
  const state: [number] = [0];
  const reason: [number] = [0];
  check(virt.virDomainGetState(dom, state, reason, 0), "virDomainGetState");
  return {
    state: state[0],
    reason: reason[0],
    maxMemKiB: Number(info.maxMem),
    memoryKiB: Number(info.memory),
    vcpus: Number(info.nrVirtCpu),
    cpuTimeNs: Number(info.cpuTime),
  };
}

function readStatsRecords(list: Ptr, n: number): RawStatsRecord[] {
  const out: RawStatsRecord[] = [];
  const recs = koffi.decode(list, "void *", n) as Ptr[];
  for (const rec of recs) {
    const r = koffi.decode(rec, VirDomainStatsRecord) as { dom: number; params: Ptr | null; nparams: number };
    out.push({ name: virt.virDomainGetName(r.dom) ?? "", uuid: uuidOf(r.dom), params: readTypedParams(r.params, r.nparams) });
  }
  return out;
}

/** VIR_STORAGE_POOL_CREATE_WITH_BUILD: a dir pool makes its directory when it is missing. */
const POOL_CREATE_WITH_BUILD = 1;
let transientPools = 0;

/**
 * Runs `fn` with an active storage pool whose target is `dir`: the host's own, or a transient dir
 * pool made for the call and destroyed after it (which leaves the directory and its files alone).
 */
function withDirPool<T>(conn: number, dir: string, fn: (pool: number) => T): T {
  let pool = virt.virStoragePoolLookupByTargetPath(conn, dir);
  let transient = false;
  if (pool === 0) {
    virt.virResetLastError();
    const name = `drover-${process.pid}-${Date.now().toString(36)}-${++transientPools}`;
    pool = checkPtr(virt.virStoragePoolCreateXML(conn, dirPoolXml(name, dir), POOL_CREATE_WITH_BUILD), "virStoragePoolCreateXML");
    transient = true;
  }
  try {
    if (!transient) {
      if (check(virt.virStoragePoolIsActive(pool), "virStoragePoolIsActive") !== 1) {
        throw new Error(`the storage pool holding ${dir} is defined but not active`);
      }
      check(virt.virStoragePoolRefresh(pool, 0), "virStoragePoolRefresh");
    }
    return fn(pool);
  } finally {
    if (transient) virt.virStoragePoolDestroy(pool);
    virt.virStoragePoolFree(pool);
  }
}

/** The volume named `name` in `pool`, or 0 when there is none. */
function volumeIn(pool: number, name: string): number {
  const vol = virt.virStorageVolLookupByName(pool, name);
  if (vol === 0) virt.virResetLastError();
  return vol;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export const ops = {
  connectOpen(uri: string, readOnly: boolean): number {
    const p = readOnly ? virt.virConnectOpenReadOnly(uri) : virt.virConnectOpen(uri);
    return checkPtr(p, readOnly ? "virConnectOpenReadOnly" : "virConnectOpen");
  },
  connectClose(conn: number): number {
    return check(virt.virConnectClose(conn), "virConnectClose");
  },
  /** 0 = keepalive on, 1 = the peer does not support it; throws for drivers without keepalive. */
  connectSetKeepAlive(conn: number, intervalS: number, count: number): number {
    return check(virt.virConnectSetKeepAlive(conn, intervalS, count), "virConnectSetKeepAlive");
  },
  connectIsAlive(conn: number): boolean {
    return check(virt.virConnectIsAlive(conn), "virConnectIsAlive") === 1;
  },
  version(conn: number): { libvirt: string; hypervisor: string; driver: string } {
    const lib: [number] = [0];
    const hv: [number] = [0];
    check(virt.virConnectGetLibVersion(conn, lib), "virConnectGetLibVersion");
    check(virt.virConnectGetVersion(conn, hv), "virConnectGetVersion");
    const driver = virt.virConnectGetType(conn);
    if (driver === null) throw lastError("virConnectGetType");
    return { libvirt: versionString(lib[0]), hypervisor: versionString(hv[0]), driver };
  },
  hostname(conn: number): string {
    const s = virt.virConnectGetHostname(conn);
    if (s === null) throw lastError("virConnectGetHostname");
    return s;
  },
  nodeInfo(conn: number) {
    const info: Record<string, unknown> = {};
    check(virt.virNodeGetInfo(conn, info), "virNodeGetInfo");
    return {
      model: String(info.model),
      memoryKiB: Number(info.memory),
      cpus: Number(info.cpus),
      mhz: Number(info.mhz),
      nodes: Number(info.nodes),
      sockets: Number(info.sockets),
      cores: Number(info.cores),
      threads: Number(info.threads),
    };
  },
  freeMemoryBytes(conn: number): number {
    const v = Number(virt.virNodeGetFreeMemory(conn));
    // 0 is also how this call reports an error.
    if (v === 0 && virt.virGetLastError() !== null) throw lastError("virNodeGetFreeMemory");
    return v;
  },
  capabilities(conn: number): string {
    const s = virt.virConnectGetCapabilities(conn);
    if (s === null) throw lastError("virConnectGetCapabilities");
    return s;
  },
  compareCpu(conn: number, xml: string, flags: number): number {
    return check(virt.virConnectCompareCPU(conn, xml, flags), "virConnectCompareCPU");
  },
  compareHypervisorCpu(conn: number, virttype: string | null, arch: string | null, xml: string, flags: number): number {
    return check(virt.virConnectCompareHypervisorCPU(conn, null, arch, null, virttype, xml, flags), "virConnectCompareHypervisorCPU");
  },
  listDomains(conn: number): RawDomainInfo[] {
    const arr: [Ptr | null] = [null];
    const n = check(virt.virConnectListAllDomains(conn, arr, 0), "virConnectListAllDomains");
    if (arr[0] === null) return [];
    const doms = koffi.decode(arr[0], "uintptr_t", n) as number[];
    const out: RawDomainInfo[] = [];
    try {
      for (const d of doms) {
        try {
          const id = virt.virDomainGetID(d);
          const { name, uuid } = refOf(d);
          out.push({
            name,
            uuid,
            id: id === 0xffffffff ? null : id,
            persistent: check(virt.virDomainIsPersistent(d), "virDomainIsPersistent") === 1,
            active: check(virt.virDomainIsActive(d), "virDomainIsActive") === 1,
            ...domInfo(d),
          });
        } catch {
          // The domain went away between listing and asking about it: it is not listed.
          virt.virResetLastError();
        }
      }
    } finally {
      for (const d of doms) virt.virDomainFree(d);
      virt.free(arr[0]);
    }
    return out;
  },
  lookupDomain(conn: number, nameOrUuid: string): DomainRef {
    let p = virt.virDomainLookupByName(conn, nameOrUuid);
    if (p === 0 && UUID_RE.test(nameOrUuid)) {
      const byName = lastError("virDomainLookupByName");
      p = virt.virDomainLookupByUUIDString(conn, nameOrUuid);
      if (p === 0) {
        const byUuid = lastError("virDomainLookupByUUIDString");
        throw byUuid.info.code === byName.info.code ? byUuid : byName;
      }
    }
    return refOf(checkPtr(p, "virDomainLookupByName"));
  },
  lookupDomainByUuid(conn: number, uuid: string): DomainRef {
    return refOf(checkPtr(virt.virDomainLookupByUUIDString(conn, uuid), "virDomainLookupByUUIDString"));
  },
  defineXml(conn: number, xml: string): DomainRef {
    return refOf(checkPtr(virt.virDomainDefineXML(conn, xml), "virDomainDefineXML"));
  },
  /** domains: handles to report on (virDomainListGetStats), or null for all (virConnectGetAllDomainStats). */
  allDomainStats(conn: number, domains: number[] | null, stats: number, flags: number): RawStatsRecord[] {
    const list: [Ptr | null] = [null];
    const n =
      domains === null
        ? check(virt.virConnectGetAllDomainStats(conn, stats, list, flags), "virConnectGetAllDomainStats")
        : check(virt.virDomainListGetStats([...domains, 0], stats, list, flags), "virDomainListGetStats");
    if (list[0] === null) return [];
    try {
      return readStatsRecords(list[0], n);
    } finally {
      virt.virDomainStatsRecordListFree(list[0]);
    }
  },

  domainFree(dom: number): void {
    check(virt.virDomainFree(dom), "virDomainFree");
  },
  domainXml(dom: number, flags: number): string {
    const s = virt.virDomainGetXMLDesc(dom, flags);
    if (s === null) throw lastError("virDomainGetXMLDesc");
    return s;
  },
  domainInfo(dom: number) {
    return domInfo(dom);
  },
  domainStart(dom: number): void {
    check(virt.virDomainCreate(dom), "virDomainCreate");
  },
  domainDestroy(dom: number): void {
    check(virt.virDomainDestroy(dom), "virDomainDestroy");
  },
  domainUndefine(dom: number, flags: number): void {
    check(virt.virDomainUndefineFlags(dom, flags), "virDomainUndefineFlags");
  },
  domainSuspend(dom: number): void {
    check(virt.virDomainSuspend(dom), "virDomainSuspend");
  },
  domainResume(dom: number): void {
    check(virt.virDomainResume(dom), "virDomainResume");
  },
  domainSetMetadata(dom: number, type: number, metadata: string | null, key: string | null, uri: string | null, flags: number): void {
    check(virt.virDomainSetMetadata(dom, type, metadata, key, uri, flags), "virDomainSetMetadata");
  },
  migrateToUri3(dom: number, destUri: string | null, params: TypedEntry[], flags: number): void {
    withTypedParams(params, (p, n) => check(virt.virDomainMigrateToURI3(dom, destUri, p, n, flags), "virDomainMigrateToURI3"));
  },
  jobStats(dom: number, flags: number): { type: number; params: TypedPair[] } {
    const type: [number] = [0];
    const params: [Ptr | null] = [null];
    const n: [number] = [0];
    check(virt.virDomainGetJobStats(dom, type, params, n, flags), "virDomainGetJobStats");
    try {
      return { type: type[0], params: readTypedParams(params[0], n[0]) };
    } finally {
      if (params[0] !== null) virt.virTypedParamsFree(params[0], n[0]);
    }
  },
  abortJob(dom: number): void {
    check(virt.virDomainAbortJob(dom), "virDomainAbortJob");
  },
  setMaxDowntime(dom: number, ms: number): void {
    check(virt.virDomainMigrateSetMaxDowntime(dom, ms, 0), "virDomainMigrateSetMaxDowntime");
  },
  getMaxDowntime(dom: number): number {
    const v: [number] = [0];
    check(virt.virDomainMigrateGetMaxDowntime(dom, v, 0), "virDomainMigrateGetMaxDowntime");
    return Number(v[0]);
  },
  setMaxSpeed(dom: number, mibs: number, flags: number): void {
    check(virt.virDomainMigrateSetMaxSpeed(dom, mibs, flags), "virDomainMigrateSetMaxSpeed");
  },
  getMaxSpeed(dom: number, flags: number): number {
    const v: [number] = [0];
    check(virt.virDomainMigrateGetMaxSpeed(dom, v, flags), "virDomainMigrateGetMaxSpeed");
    return Number(v[0]);
  },
  startPostCopy(dom: number): void {
    check(virt.virDomainMigrateStartPostCopy(dom, 0), "virDomainMigrateStartPostCopy");
  },
  startDirtyRateCalc(dom: number, seconds: number, flags: number): void {
    check(virt.virDomainStartDirtyRateCalc(dom, seconds, flags), "virDomainStartDirtyRateCalc");
  },
  /** Creates the image `name` in directory `dir`; refuses one that exists (never overwritten). */
  volumeCreate(conn: number, dir: string, name: string, volumeXml: string): void {
    withDirPool(conn, dir, (pool) => {
      const old = volumeIn(pool, name);
      if (old !== 0) {
        virt.virStorageVolFree(old);
        throw new Error(`${dir}/${name} already exists`);
      }
      virt.virStorageVolFree(checkPtr(virt.virStorageVolCreateXML(pool, volumeXml, 0), "virStorageVolCreateXML"));
    });
  },
  /** Deletes the image `name` in directory `dir`; false when there was none. */
  volumeDelete(conn: number, dir: string, name: string): boolean {
    return withDirPool(conn, dir, (pool) => {
      const vol = volumeIn(pool, name);
      if (vol === 0) return false;
      try {
        check(virt.virStorageVolDelete(vol, 0), "virStorageVolDelete");
        return true;
      } finally {
        virt.virStorageVolFree(vol);
      }
    });
  },
  /** Test hook: lets tests check that worker threads really are separate threads. */
  sleepMs(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  },
};

export type Ops = typeof ops;
export type OpName = keyof Ops;
