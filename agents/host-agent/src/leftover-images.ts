// Disk images a copy-storage move leaves behind. Those a failed move created on its destination are
// removed at once where the destination answers; where it does not (the link being what failed) they
// are kept in a state file and removed once it answers: before the VM's next copy-storage move there,
// and by a sweep every SWEEP_EVERY_MS. Those a landed move made stale on its source go at its end
// (removeMovedDisks). Left, either would fill that host's disk and refuse the VM's next copy there
// (an image is never created over an existing file).
import { join } from "node:path";
import { z } from "zod";
import type { Logger, MigrationResult } from "@drover/protocol";
import type { MigrationRecord } from "./command-table.js";
import type { HvConnection, Hypervisor } from "./hypervisor.js";
import { withTimeout } from "./libvirt-link.js";
import { peerReach } from "./peer-reach.js";
import { readStateFile, writeStateFile } from "./state-file.js";

const SWEEP_EVERY_MS = 30_000;
/** The TCP probe before a destination is opened (an unreachable one would hold the open until its timeout). */
const PROBE_MS = 5000;

const Leftover = z.object({
  destination: z.object({ host: z.string(), uri: z.string() }),
  vm: z.string(),
  vmUuid: z.string(),
  path: z.string(),
  sinceMs: z.number(),
});
type Leftover = z.infer<typeof Leftover>;
const LeftoversFile = z.object({ v: z.literal(1), host: z.string(), images: z.array(Leftover) });

/** Where the leftovers are kept under the agent's state dir. */
export function leftoverImagesFile(stateDir: string): string {
  return join(stateDir, "leftover-images.json");
}

export interface LeftoverImagesDeps {
  hv: Hypervisor;
  host: string;
  log: Logger;
  callTimeoutMs: number;
  /** The state file (none: kept in memory only). */
  file?: string;
}

export class LeftoverImages {
  private images: Leftover[];
  /** Sweeps run one at a time: a sweep holding an old list must not remove an image a new move just made. */
  private chain: Promise<void> = Promise.resolve();
  private lastSweepMs = 0;

  constructor(private readonly d: LeftoverImagesDeps) {
    const f = d.file;
    this.images = (f && readStateFile({ file: f, host: d.host, log: d.log }, LeftoversFile, "leftover images file")?.images) || [];
  }

  get size(): number {
    return this.images.length;
  }

  /** Removes the images a failed move made on its destination, now if it answers, else once it does. */
  async discard(destination: { host: string; uri: string }, vm: { name: string; uuid: string }, paths: readonly string[]): Promise<void> {
    if (paths.length === 0) return;
    const now = Date.now();
    for (const path of paths) {
      if (this.images.some((i) => i.destination.uri === destination.uri && i.path === path)) continue;
      this.images.push({ destination: { host: destination.host, uri: destination.uri }, vm: vm.name, vmUuid: vm.uuid, path, sinceMs: now });
    }
    this.save();
    await this.sweep(destination.uri);
    const left = this.images.filter((i) => i.destination.uri === destination.uri && paths.includes(i.path)).map((i) => i.path);
    if (left.length > 0)
      this.d.log.warn(
        { destination: destination.host, vm: vm.name, images: left },
        "copied disk images left on the destination; removed once it answers",
      );
  }

  /** A sweep of every destination, if one is due (called on the agent's report tick). */
  sweepIfDue(now = Date.now()): void {
    if (this.images.length === 0 || now - this.lastSweepMs < SWEEP_EVERY_MS) return;
    this.lastSweepMs = now;
    void this.sweep().catch((e: unknown) => this.d.log.error({ err: e }, "leftover images sweep failed"));
  }

  /** Removes the leftovers on `uri` (every destination when omitted) whose destination answers. */
  sweep(uri?: string): Promise<void> {
    const run = this.chain.then(() => this.sweepNow(uri));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async sweepNow(only?: string): Promise<void> {
    const uris = [...new Set(this.images.map((i) => i.destination.uri))].filter((u) => only === undefined || u === only);
    for (const uri of uris) {
      if ((await peerReach(uri, PROBE_MS)) === "silent") continue;
      let conn: HvConnection;
      try {
        conn = await withTimeout(this.d.hv.open(uri), this.d.callTimeoutMs, "open destination");
      } catch (e) {
        this.d.log.debug({ err: e, uri }, "leftover images: destination not answering yet");
        continue;
      }
      try {
        for (const image of this.images.filter((i) => i.destination.uri === uri)) {
          if (await this.removeOne(conn, image)) this.images = this.images.filter((i) => i !== image);
        }
      } finally {
        await conn.close().catch(() => undefined);
      }
    }
    this.save();
  }

  /** true once the image is no leftover: removed, gone, or its VM defined there now (then it is that VM's disk). */
  private async removeOne(conn: HvConnection, image: Leftover): Promise<boolean> {
    const ids = { destination: image.destination.host, vm: image.vm, path: image.path };
    const defined = await vmDefinedOn(conn, image.vmUuid, this.d.callTimeoutMs);
    if (defined === undefined) return false;
    if (defined) {
      this.d.log.info(ids, "the VM is defined on the destination now: the image there is its disk, kept");
      return true;
    }
    return withTimeout(conn.deleteImage(image.path), this.d.callTimeoutMs, "delete image").then(
      (existed) => {
        this.d.log.info(ids, existed ? "disk image left by a failed move removed from the destination" : "left image already gone");
        return true;
      },
      (e: unknown) => {
        this.d.log.warn({ ...ids, err: e }, "left disk image not removed yet");
        return false;
      },
    );
  }

  private save(): void {
    if (!this.d.file) return;
    try {
      writeStateFile(this.d.file, { v: 1, host: this.d.host, images: this.images });
    } catch (e) {
      this.d.log.error({ err: e, file: this.d.file }, "leftover images not saved");
    }
  }
}

/**
 * After a move landed (the destination runs the VM) and took its definition from here, the disks it
 * copied (the images it made there, by the same paths) are stale copies here: removed. Kept while any
 * domain of the VM is defined here (the move did not undefine it, or it is back), or when this host's
 * libvirtd (`local`) does not say. From the journal's record, so a restarted agent does it too.
 */
export async function removeMovedDisks(
  m: MigrationRecord,
  r: MigrationResult,
  local: HvConnection | null,
  d: { log: Logger; callTimeoutMs: number },
): Promise<void> {
  if (m.images.length === 0 || r.outcome !== "succeeded" || r.vmRunningOn !== m.destination.host) return;
  const ids = { migrationId: m.migrationId, vm: m.vm };
  if (!m.undefineOnSource || !local || (await vmDefinedOn(local, m.vmUuid, d.callTimeoutMs)) !== false) {
    d.log.info({ ...ids, disks: m.images }, "the moved VM's disks kept here: it is still defined here, or libvirtd did not say");
    return;
  }
  for (const path of m.images) {
    await withTimeout(local.deleteImage(path), d.callTimeoutMs, "delete image").then(
      () => d.log.info({ ...ids, path, on: r.vmRunningOn }, "the moved VM's stale disk copy removed here"),
      (e: unknown) => d.log.error({ ...ids, err: e, path }, "the moved VM's stale disk copy not removed"),
    );
  }
}

/** Whether a domain of the VM is defined on `conn` (an image there may be its disk); undefined when libvirtd does not say. */
async function vmDefinedOn(conn: HvConnection, vmUuid: string, callTimeoutMs: number): Promise<boolean | undefined> {
  const dom = await withTimeout(conn.lookup(vmUuid), callTimeoutMs, "lookup").catch(() => undefined);
  dom?.free();
  return dom === undefined ? undefined : dom !== null;
}
