// Whether the store can take writes. Every command is recorded before it is sent, so a write the
// disk refused (full, read-only, an I/O error), or a disk with less room left than a round of writes
// takes, stops the scheduler acting: no plan, no new move, no drain step, no power action. (SQLite
// writes on into the room its WAL file already has, so a full disk may refuse nothing for minutes:
// the free space is looked at too.) It keeps serving reads and following the moves already running,
// says why (status API, log, `drover status`), and resumes by itself once a probe write of that
// room beside the store succeeds again.
import { statfsSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@drover/protocol";
import { StoreError, StoreErrorCodes } from "@drover/store";
import type { Clock } from "./clock.js";

/** Room a probe asks for: about what a round of writes takes (reports, a plan, its moves). */
const PROBE_BYTES = 1024 * 1024;

export interface StoreHealthStatus {
  writable: boolean;
  /** Since when writes fail (null while writable). */
  sinceMs: number | null;
  /** The first refused write's error (null while writable). */
  reason: string | null;
}

/** True for the error of a write the disk refused. */
export function isWriteFailure(e: unknown): e is StoreError {
  return e instanceof StoreError && e.code === StoreErrorCodes.WriteFailed;
}

export class StoreHealth {
  private failure: { sinceMs: number; reason: string } | null = null;
  private readonly probeFile: string;

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.probeFile = join(dir, ".drover-write-probe");
  }

  get writable(): boolean {
    return this.failure === null;
  }

  status(): StoreHealthStatus {
    const f = this.failure;
    return { writable: f === null, sinceMs: f?.sinceMs ?? null, reason: f?.reason ?? null };
  }

  /** A write was refused: stop acting (logged once per failure, not per refused write). */
  failed(err: StoreError): void {
    this.fail(err.message);
  }

  /**
   * Periodic, before acting: true when the store may be written. While writable, the room left is
   * looked at; while not, a probe write tells whether it may be again.
   */
  check(): boolean {
    if (this.failure) return this.recovered();
    let free: number;
    try {
      const fs = statfsSync(this.dir);
      free = fs.bavail * fs.bsize;
    } catch {
      return true; // The writes themselves will say.
    }
    if (free >= PROBE_BYTES) return true;
    this.fail(`the disk of ${this.dir} has ${free} bytes free, less than the ${PROBE_BYTES} a round of records may take`);
    return false;
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = { sinceMs: this.clock.now(), reason };
    this.log.error(
      { reason, dir: this.dir },
      "store write failed: not planning, starting moves, draining or powering hosts until it can record again; reads and moves in flight go on",
    );
  }

  /** While failing: true (writable again) once a probe of PROBE_BYTES beside the store is written. */
  private recovered(): boolean {
    if (!this.failure) return true;
    try {
      writeFileSync(this.probeFile, Buffer.alloc(PROBE_BYTES));
    } catch {
      return false;
    } finally {
      try {
        unlinkSync(this.probeFile);
      } catch {
        // Not written at all: nothing to remove.
      }
    }
    this.log.info({ sinceMs: this.failure.sinceMs }, "store writable again: acting again");
    this.failure = null;
    return true;
  }
}
