import { DomainStatsFlags, DomainXmlFlags, isValidMigrateFlags } from "./constants.js";
import type { DomainStats } from "./domain-stats.js";
import { decodeDomainStats } from "./domain-stats.js";
import type { DomainState } from "./constants.js";
import { domainStateName } from "./constants.js";
import { LibvirtArgumentError, LibvirtStateError } from "./errors.js";
import type { JobStats } from "./job-stats.js";
import { decodeJobStats } from "./job-stats.js";
import type { MigrateParams } from "./migrate-params.js";
import { migrateParamsToTyped } from "./migrate-params.js";
import type { DomainRef } from "./native/ops.js";
import { pool } from "./runtime.js";

/** What a Domain needs from its Connection (kept off the Connection's public surface). */
export interface DomainHost {
  /** The current virConnectPtr; throws once the connection is closed. */
  connPtr(): number;
  /** Bumped by reconnect(): domain handles from an older generation are looked up again. */
  generation(): number;
}

export interface DomainRuntimeInfo {
  state: DomainState;
  reason: number;
  maxMemKiB: number;
  memoryKiB: number;
  vcpus: number;
  cpuTimeNs: number;
}

/** Box shared with the finalizer, so a Domain never freed by hand still releases its handle. */
interface HandleBox {
  ptr: number | null;
}
const finalizer = new FinalizationRegistry<HandleBox>((box) => {
  if (box.ptr !== null) void pool.call("domainFree", box.ptr).catch(() => {});
});

/** Dirty-rate measurement modes (virDomainDirtyRateCalcFlags). */
export const DirtyRateMode = { PAGE_SAMPLING: 0, BITMAP: 1 << 0, DIRTY_RING: 1 << 1 } as const;

function positiveInt(what: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new LibvirtArgumentError(`${what} must be an integer in [0, ${max}] (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** One libvirt domain handle (virDomainPtr). Call free() when done; a finalizer is the backstop. */
export class Domain {
  readonly name: string;
  readonly uuid: string;
  private readonly box: HandleBox;
  private gen: number;
  private relookup: Promise<number> | null = null;

  /** @internal created by Connection */
  constructor(
    private readonly host: DomainHost,
    ref: DomainRef,
  ) {
    this.name = ref.name;
    this.uuid = ref.uuid;
    this.box = { ptr: ref.ptr };
    this.gen = host.generation();
    finalizer.register(this, this.box, this);
  }

  /** @internal whether this handle came from the connection behind `host`. */
  belongsTo(host: DomainHost): boolean {
    return this.host === host;
  }

  /** @internal the virDomainPtr, looked up again after a reconnect. */
  async ptr(): Promise<number> {
    const conn = this.host.connPtr();
    if (this.box.ptr === null) throw new LibvirtStateError("domain-freed", `domain ${this.name} was freed`);
    if (this.gen === this.host.generation()) return this.box.ptr;
    // One lookup however many calls arrive at once after a reconnect.
    this.relookup ??= this.lookUpAgain(conn).finally(() => (this.relookup = null));
    return this.relookup;
  }

  private async lookUpAgain(conn: number): Promise<number> {
    const gen = this.host.generation();
    const fresh = await pool.call("lookupDomainByUuid", conn, this.uuid);
    const old = this.box.ptr;
    if (old === null) {
      // freed meanwhile
      void pool.call("domainFree", fresh.ptr).catch(() => {});
      throw new LibvirtStateError("domain-freed", `domain ${this.name} was freed`);
    }
    this.box.ptr = fresh.ptr;
    this.gen = gen;
    void pool.call("domainFree", old).catch(() => {});
    return fresh.ptr;
  }

  async xml(opts: { migratable?: boolean; inactive?: boolean; secure?: boolean } = {}): Promise<string> {
    const flags =
      (opts.secure ? DomainXmlFlags.SECURE : 0) |
      (opts.inactive ? DomainXmlFlags.INACTIVE : 0) |
      (opts.migratable ? DomainXmlFlags.MIGRATABLE : 0);
    return pool.call("domainXml", await this.ptr(), flags);
  }

  /** This domain's getAllDomainStats record (virDomainListGetStats); stats/flags as in
   * Connection.allDomainStats (default: every group, NOWAIT). */
  async stats(stats = 0, flags: number = DomainStatsFlags.NOWAIT): Promise<DomainStats> {
    const [raw] = await pool.call("allDomainStats", this.host.connPtr(), [await this.ptr()], positiveInt("stats", stats, 2 ** 31), flags);
    if (raw === undefined) throw new LibvirtStateError("domain-freed", `libvirt returned no stats for ${this.name}`);
    return decodeDomainStats(raw.name, raw.uuid, raw.params);
  }

  async info(): Promise<DomainRuntimeInfo> {
    const i = await pool.call("domainInfo", await this.ptr());
    return { ...i, state: domainStateName(i.state) };
  }

  async start(): Promise<void> {
    await pool.call("domainStart", await this.ptr());
  }
  async destroy(): Promise<void> {
    await pool.call("domainDestroy", await this.ptr());
  }
  /** opts are virDomainUndefineFlagsValues (e.g. 1 = managed save, 4 = nvram); 0 by default. */
  async undefine(flags = 0): Promise<void> {
    await pool.call("domainUndefine", await this.ptr(), positiveInt("undefine flags", flags, 2 ** 31));
  }
  async suspend(): Promise<void> {
    await pool.call("domainSuspend", await this.ptr());
  }
  async resume(): Promise<void> {
    await pool.call("domainResume", await this.ptr());
  }

  /**
   * Sets (or with null removes) this domain's metadata element of namespace `uri`, stored with
   * prefix `key` (virDomainSetMetadata, VIR_DOMAIN_METADATA_ELEMENT; the live and persistent
   * definition as libvirt's "current" means). What `virsh metadata DOMAIN --uri URI --key KEY --set XML` does.
   */
  async setMetadataElement(uri: string, key: string, xml: string | null): Promise<void> {
    if (!uri || !key) throw new LibvirtArgumentError("setMetadataElement: uri and key must be non-empty");
    await pool.call("domainSetMetadata", await this.ptr(), 2, xml, xml === null ? null : key, uri, 0);
  }

  /**
   * virDomainMigrateToURI3. Resolves when the migration has finished (or rejects with the
   * LibvirtError that ended it, e.g. code 78 OPERATION_ABORTED after abortJob()). It holds one
   * worker thread for its whole duration; other calls keep running on other threads.
   * destUri is the destination libvirt URI (needed with PEER2PEER), or null for direct migration.
   */
  async migrateToUri3(destUri: string | null, params: MigrateParams, flags: number): Promise<void> {
    if (destUri !== null && (typeof destUri !== "string" || destUri.length === 0)) {
      throw new LibvirtArgumentError("migrateToUri3: destUri must be a non-empty string or null");
    }
    if (!isValidMigrateFlags(flags)) throw new LibvirtArgumentError(`migrateToUri3: unknown bits in flags ${flags}`);
    const typed = migrateParamsToTyped(params);
    await pool.call("migrateToUri3", await this.ptr(), destUri, typed, flags);
  }

  /** virDomainGetJobStats: the running job, or with completed=true the last finished one. */
  async jobStats(opts: { completed?: boolean; keepCompleted?: boolean } = {}): Promise<JobStats> {
    const flags = (opts.completed ? 1 : 0) | (opts.keepCompleted ? 2 : 0);
    const r = await pool.call("jobStats", await this.ptr(), flags);
    return decodeJobStats(r.type, r.params);
  }

  async abortJob(): Promise<void> {
    await pool.call("abortJob", await this.ptr());
  }
  async setMaxDowntimeMs(ms: number): Promise<void> {
    await pool.call("setMaxDowntime", await this.ptr(), positiveInt("max downtime (ms)", ms));
  }
  async maxDowntimeMs(): Promise<number> {
    return pool.call("getMaxDowntime", await this.ptr());
  }
  async setMaxSpeedMiBs(mibs: number, opts: { postcopy?: boolean } = {}): Promise<void> {
    await pool.call("setMaxSpeed", await this.ptr(), positiveInt("max speed (MiB/s)", mibs), opts.postcopy ? 1 : 0);
  }
  async maxSpeedMiBs(opts: { postcopy?: boolean } = {}): Promise<number> {
    return pool.call("getMaxSpeed", await this.ptr(), opts.postcopy ? 1 : 0);
  }
  async startPostCopy(): Promise<void> {
    await pool.call("startPostCopy", await this.ptr());
  }
  /** Starts a dirty-page-rate measurement; results then appear in allDomainStats().dirtyRate. */
  async startDirtyRateCalc(seconds: number, mode: number = DirtyRateMode.PAGE_SAMPLING): Promise<void> {
    if (!Object.values(DirtyRateMode).includes(mode as 0)) throw new LibvirtArgumentError(`unknown dirty-rate mode ${mode}`);
    await pool.call("startDirtyRateCalc", await this.ptr(), positiveInt("dirty-rate seconds", seconds, 60), mode);
  }

  /** Releases the handle (not the domain). Further calls on this object throw LibvirtStateError "domain-freed". */
  free(): void {
    const p = this.box.ptr;
    if (p === null) return;
    this.box.ptr = null;
    finalizer.unregister(this);
    void pool.call("domainFree", p).catch(() => {});
  }
}
