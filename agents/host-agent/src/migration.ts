import type { EscalationStep, Logger, MigrateCommand, MigrationHeader, MigrationProgress, MigrationResult } from "@drover/protocol";
import { destinationName } from "./destinations.js";
import { describeDomain } from "./domain-xml.js";
import { AgentError, AgentErrorCode, errorInfo } from "./errors.js";
import type { HvConnection, HvDomain, Hypervisor, JobStats, MigrateParams } from "./hypervisor.js";
import type { LeftoverImages } from "./leftover-images.js";
import { withTimeout } from "./libvirt-link.js";
import { peerReach } from "./peer-reach.js";
import type { DiskCopy } from "./storage.js";
import { ConvergenceWatchdog, stepLabel } from "./watchdog.js";

type Phase = MigrationProgress["phase"];
type CompletedBy = NonNullable<MigrationResult["completedBy"]>;

export interface MigrationDeps {
  hv: Hypervisor;
  host: string;
  log: Logger;
  callTimeoutMs: number;
  /** Migrate over QEMU's TLS (config migration.tls). */
  tls: boolean;
  progress: (p: MigrationProgress) => void;
  /** Images a failed copy left on a destination it could not reach, removed once it answers. */
  leftovers: LeftoverImages;
  /** Each destination image this move creates, once made (the command journal keeps it). */
  imageCreated: (path: string) => void;
}

/** Where the downtime in a result came from (the protocol has no field for it yet; logged). */
export type DowntimeSource =
  "destination-completed-job" | "source-completed-job" | "agent-pause-to-resume" | "agent-postcopy-switch" | "none";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** libvirt's words for a peer connection that went away (RPC layer), as the source sees them. */
const PEER_GONE =
  /client socket is closed|end of file while reading|connection reset|cannot recv data|cannot write data|broken pipe|connection refused|no route to host|keepalive timeout/i;

/** How long a failed migration's bare TCP probe of the destination's libvirtd waits for an answer. */
export const PEER_PROBE_MS = 5000;

/** How long a finished migration waits for the destination's libvirtd to answer (it may be restarting) to verify where the VM runs. */
export const VERIFY_DESTINATION_MS = 60_000;
/** How long a post-copy switch may take before its downtime counts as unmeasured. */
const POSTCOPY_SWITCH_WITHIN_MS = 30_000;

/**
 * Where a failed migration was: `setup` before memory moved, `copy` while it moved, `switchover`
 * once QEMU could stop the source (expected downtime within the limit) or after post-copy began.
 */
export type FailurePhase = "setup" | "copy" | "switchover";

/** The progress message's view of libvirt's job statistics (the live move and a recovered one alike). */
export function progressOfJob(js: JobStats) {
  return {
    dataTotalBytes: js.dataTotal,
    dataProcessedBytes: js.dataProcessed,
    dataRemainingBytes: js.dataRemaining,
    memDirtyRateBps: js.memDirtyRateBps,
    bandwidthBps: js.memBps,
    iteration: js.memoryIteration,
    expectedDowntimeMs: js.expectedDowntimeMs,
  };
}

/**
 * virDomainMigrateFlags for a command, given what the ladder may need (flags cannot change
 * mid-flight). TLS only for a running VM: a shut-off one moves as its definition, no QEMU stream.
 */
export function migrateFlags(
  hv: Hypervisor,
  o: MigrateCommand["options"],
  vmActive: boolean,
  tls: boolean,
  copies: readonly DiskCopy[] = [],
  tcg = false,
): number {
  const f = hv.flags;
  const ladder = o.escalation.map((s) => s.action);
  let flags = f.PEER2PEER;
  if (!vmActive) return flags | f.OFFLINE | f.PERSIST_DEST | (o.undefineOnSource ? f.UNDEFINE_SOURCE : 0);
  if (tls) flags |= f.TLS;
  // Pause-and-copy: the agent suspends the guest first and resumes it on the destination itself
  // (PAUSED keeps it paused there), so the downtime it reports is the pause it made.
  flags |= o.offline ? f.PAUSED : f.LIVE;
  if (o.persistOnDestination) flags |= f.PERSIST_DEST;
  if (o.undefineOnSource) flags |= f.UNDEFINE_SOURCE;
  if (o.allowUnsafe) flags |= f.UNSAFE;
  // Only the disks the destination does not share are copied (migrate_disks lists them); a chain's
  // lower layers are on the destination already, so only the top moves.
  if (copies.length > 0) flags |= copies.some((c) => c.backing !== null) ? f.NON_SHARED_INC : f.NON_SHARED_DISK;
  // QEMU fixes migration capabilities when the migration starts, so auto-converge and post-copy
  // must be armed then if any rung may need them.
  // Never for a TCG guest (domain type qemu): QEMU before 9.0 loses a TCG guest's dirty pages at each
  // dirty-bitmap sync (ARCHITECTURE.md, "The lab"), and throttling stretches the move over more syncs.
  if (!tcg && (o.autoConverge || ladder.includes("auto-converge"))) flags |= f.AUTO_CONVERGE;
  if (o.allowPostCopy && (o.postCopyAfterFirstPass || ladder.includes("post-copy"))) flags |= f.POSTCOPY;
  return flags;
}

/**
 * One outgoing migration: runs libvirt's p2p migration, streams progress, climbs the escalation
 * ladder when the watchdog says it stalls, enforces the timeout, and produces the final result.
 */
export class MigrationRun {
  readonly startedAtMs = Date.now();
  private phase: Phase = "starting";
  private readonly escalations: string[] = [];
  private lastRung: EscalationStep["action"] | null = null;
  private throttled = false;
  private abortReason: "requested" | "ladder" | "timeout" | null = null;
  private last: JobStats | null = null;
  private pausedAtMs: number | null = null;
  /** The post-copy switch as this agent saw it (libvirt reports no downtime for a post-copy move). */
  private postCopySwitch: Promise<number | null> | null = null;
  private maxDowntimeMs: number;
  private reached: FailurePhase = "setup";
  private done = false;
  /** The guest runs under TCG (domain type qemu): auto-converge is neither armed nor climbed. */
  private tcg = false;
  /** Destination images this move created (copy-storage), removed again if it fails. */
  private readonly created: string[] = [];
  /**
   * Why this move's end was not seen here, so that its result is provisional and recovery.ts (handed
   * over by commands.ts) follows it to its end from what libvirt shows:
   * - `libvirtd-lost`: this host's own libvirtd went away; the job (peer to peer, in libvirtd and
   *   QEMU) may have ended either way, and where the VM runs once libvirtd is back decides;
   * - `post-copy-broken`: the move failed after the post-copy switch; the guest runs on the
   *   destination on memory fetched from here, and QEMU goes on once the link is back.
   */
  unseenEnd: "libvirtd-lost" | "post-copy-broken" | null = null;

  /** `copies`: the disks the destination does not share (storage.ts `diskCopies`); empty for a shared-storage move. */
  constructor(
    readonly cmd: MigrateCommand,
    private readonly dom: HvDomain,
    private readonly deps: MigrationDeps,
    private readonly copies: readonly DiskCopy[] = [],
  ) {
    this.maxDowntimeMs = cmd.options.maxDowntimeMs;
  }

  get vmUuid(): string {
    return this.dom.uuid;
  }

  /** Asks libvirt to cancel; the result then says `aborted` and the VM stays here. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.abortReason ??= "requested";
    await this.dom.abortJob();
  }

  async run(): Promise<MigrationResult> {
    const o = this.cmd.options;
    const log = this.deps.log;
    const state = await this.dom.state();
    const active = state !== "shut-off";
    this.tcg =
      active &&
      (await this.dom.xml().then(
        (x) => describeDomain(x).type === "qemu",
        () => false,
      ));
    const flags = migrateFlags(this.deps.hv, o, active, this.deps.tls, this.copies, this.tcg);
    const params: MigrateParams = {};
    if (o.bandwidthMiBs !== undefined) {
      params.bandwidthMiBs = o.bandwidthMiBs;
      // The cap is the move's, not only its pre-copy's: post-copy's background copy would flood the link.
      if (flags & this.deps.hv.flags.POSTCOPY) params.bandwidthPostcopyMiBs = o.bandwidthMiBs;
    }
    if (this.copies.length > 0) {
      params.migrateDisks = this.copies.map((c) => c.target);
      const failed = await this.createDestinationImages();
      if (failed) {
        this.done = true;
        return this.finish(failed, active);
      }
    }
    if (active && o.offline) {
      await this.dom.suspend();
      this.pausedAtMs = Date.now();
      this.phase = "paused-copy";
    }
    if (active && !o.offline) {
      // Set before the start so the first iterations already use it; it is a QEMU setting of the
      // source process, gone with it after a successful move.
      await this.dom.setMaxDowntimeMs(o.maxDowntimeMs).catch((e: unknown) => log.warn({ err: e }, "max downtime not set before start"));
    }
    log.info(
      {
        migrationId: this.cmd.migrationId,
        vm: this.dom.name,
        destination: destinationName(this.cmd.destination),
        to: this.cmd.destination.uri,
        flags,
        tls: (flags & this.deps.hv.flags.TLS) !== 0,
        params,
      },
      "migration starting",
    );
    let failure: unknown = null;
    const migrating = this.dom.migrate(this.cmd.destination.uri, params, flags).then(
      () => undefined,
      (e: unknown) => {
        failure = e;
      },
    );
    let finished = false;
    void migrating.finally(() => {
      finished = true;
    });
    await this.watch(() => finished, active && !o.offline);
    await migrating;
    this.done = true;
    return this.finish(failure, active);
  }

  private async watch(finished: () => boolean, live: boolean): Promise<void> {
    const o = this.cmd.options;
    const wd = new ConvergenceWatchdog({ ladder: o.escalation, stallIterations: o.stallIterations, stallMs: o.stallMs }, Date.now());
    const deadline = this.startedAtMs + o.timeoutMs;
    // Progress leaves on its own clock: a stats call can take seconds (libvirtd busy completing the
    // migration, CPU contention), and the interval promise must not depend on it.
    const ticker = setInterval(() => {
      if (this.last && !finished()) this.publish(this.last, Date.now());
    }, o.progressIntervalMs);
    try {
      while (!finished()) {
        await Promise.race([sleep(o.progressIntervalMs), new Promise<void>((r) => (finished() ? r() : setTimeout(r, 50)))]);
        if (finished()) break;
        if (Date.now() >= deadline && !this.abortReason) {
          this.abortReason = "timeout";
          this.deps.log.warn({ migrationId: this.cmd.migrationId }, "migration timed out; aborting");
          await this.dom.abortJob().catch((e: unknown) => this.deps.log.error({ err: e }, "abortJob failed"));
        }
        const js = await this.dom.jobStats(false).catch((e: unknown) => {
          this.deps.log.debug({ err: e, migrationId: this.cmd.migrationId }, "job stats unavailable");
          return null;
        });
        if (!js || js.type === "none" || finished()) continue;
        this.last = js;
        this.note(js);
        if ((js.autoConvergeThrottle ?? 0) > 0 && !this.throttled) {
          this.throttled = true;
          this.escalations.push(`auto-converge:throttle-${js.autoConvergeThrottle}%`);
        }
        if (this.phase === "starting" && js.dataTotal > 0) this.phase = "copying";
        if (live && !this.abortReason) {
          // The post-copy strategy: one full pass live (iteration 1), then the guest runs on the destination.
          if (o.postCopyAfterFirstPass && js.memoryIteration >= 2 && this.phase !== "post-copy" && !this.lastRungWas("post-copy")) {
            await this.apply({ action: "post-copy" });
            continue;
          }
          const step = wd.observe({ iteration: js.memoryIteration, remainingBytes: js.dataRemaining }, Date.now());
          if (step) await this.apply(step);
        }
      }
    } finally {
      clearInterval(ticker);
    }
  }

  private async apply(step: EscalationStep): Promise<void> {
    const o = this.cmd.options;
    const label = stepLabel(step);
    const log = this.deps.log;
    log.info({ migrationId: this.cmd.migrationId, step: label }, "migration stalled; escalating");
    try {
      switch (step.action) {
        case "raise-downtime":
          await this.dom.setMaxDowntimeMs(step.toMs);
          this.maxDowntimeMs = step.toMs;
          this.phase = "escalating";
          break;
        case "auto-converge":
          if (this.tcg) {
            this.escalations.push(`${label}:skipped-tcg`);
            return;
          }
          // Armed at the start (QEMU cannot switch it on mid-flight); reaching the rung just records it.
          this.phase = "escalating";
          break;
        case "post-copy":
          if (!o.allowPostCopy) {
            this.escalations.push(`${label}:skipped-not-allowed`);
            return;
          }
          await this.dom.startPostCopy();
          this.phase = "post-copy";
          this.postCopySwitch = this.timePostCopySwitch(Date.now());
          break;
        case "pause":
          await this.dom.suspend();
          this.pausedAtMs = Date.now();
          this.phase = "paused-copy";
          break;
        case "abort":
          this.abortReason = "ladder";
          await this.dom.abortJob();
          break;
      }
      this.escalations.push(label);
      this.lastRung = step.action;
    } catch (e) {
      this.escalations.push(`${label}:failed`);
      log.error({ err: e, step: label }, "escalation step failed");
    }
  }

  private lastRungWas(action: EscalationStep["action"]): boolean {
    return this.escalations.some((e) => e === action || e.startsWith(`${action}:`));
  }

  /**
   * Creates each copied disk's image on the destination (its libvirtd's storage driver, so the
   * image is made in that host's view of the path) with the source's size and format. On the first
   * failure the images made so far are removed and the error returned: nothing has moved.
   */
  private async createDestinationImages(): Promise<unknown> {
    // What an earlier failed copy of this VM left there would refuse the new images.
    await this.deps.leftovers.sweep(this.cmd.destination.uri);
    const dest = await this.openDestination();
    if (!dest) return new AgentError(AgentErrorCode.DestinationLost, `${this.cmd.destination.uri} did not answer; no disk image created`);
    try {
      for (const c of this.copies) {
        const where = `${c.path} (${c.format}, ${c.capacityBytes} bytes) on ${destinationName(this.cmd.destination)}`;
        let made = false;
        try {
          await withTimeout(
            dest.createImage({
              path: c.path,
              capacityBytes: c.capacityBytes,
              format: c.format,
              ...(c.backing ? { backing: c.backing } : {}),
            }),
            this.deps.callTimeoutMs,
            "create image",
          );
          made = true;
          this.created.push(c.path);
          this.deps.imageCreated(c.path);
        } catch (e) {
          await this.deps.leftovers.discard(this.cmd.destination, this.dom, this.created.splice(0));
          const msg = (e as Error).message;
          // Unjournalled, a restart would lose track of the image: the move stops here, and says
          // that this host's journal failed, not the destination.
          return made
            ? new AgentError(
                AgentErrorCode.Internal,
                `disk ${c.target}: created ${where} but could not journal it on ${this.deps.host} (${msg}); the move's images are removed`,
                { cause: e },
              )
            : new AgentError(AgentErrorCode.DestinationImage, `disk ${c.target}: could not create ${where}: ${msg}`, { cause: e });
        }
      }
      this.deps.log.info({ migrationId: this.cmd.migrationId, images: this.created }, "destination disk images created");
      return null;
    } finally {
      await dest.close().catch(() => undefined);
    }
  }

  /** This migration, as its progress and its result name it. */
  private header(): MigrationHeader {
    return {
      v: 1,
      migrationId: this.cmd.migrationId,
      commandId: this.cmd.id,
      vm: this.dom.name,
      vmUuid: this.dom.uuid,
      source: this.deps.host,
      destination: this.cmd.destination.host,
    };
  }

  private publish(js: JobStats, now: number): void {
    try {
      this.deps.progress({
        ...this.header(),
        timeMs: now,
        elapsedMs: now - this.startedAtMs,
        phase: this.phase,
        ...progressOfJob(js),
        escalations: [...this.escalations],
      });
    } catch (e) {
      this.deps.log.warn({ err: e }, "progress not published");
    }
  }

  private async finish(failure: unknown, active: boolean): Promise<MigrationResult> {
    let endedAtMs = Date.now();
    const o = this.cmd.options;
    const log = this.deps.log;
    let outcome: MigrationResult["outcome"] = "succeeded";
    let error: MigrationResult["error"] = null;
    if (failure) {
      this.unseenEnd = (await this.libvirtdGone()) ? "libvirtd-lost" : this.phase === "post-copy" ? "post-copy-broken" : null;
      const info = await this.failureInfo(failure);
      // The ladder aborts a copy that stopped moving; when the destination cannot be reached the
      // network stopped it, and that is the cause to record.
      const cause = this.abortReason === "ladder" && info.code === AgentErrorCode.DestinationUnreachable ? null : this.abortReason;
      outcome = cause === "timeout" ? "timed-out" : cause ? "aborted" : "failed";
      error =
        outcome === "timed-out"
          ? { code: AgentErrorCode.Timeout, message: `no completion within ${o.timeoutMs} ms; aborted (${info.message})` }
          : outcome === "aborted"
            ? {
                code: AgentErrorCode.Aborted,
                message: `aborted (${this.abortReason === "ladder" ? "escalation ladder" : "abort command"}): ${info.message}`,
              }
            : info;
      // libvirt resumes the source after a failed migration; resume only if it did not.
      if (this.pausedAtMs !== null && (await this.dom.state().catch(() => null)) === "paused") {
        await this.dom.resume().catch((e: unknown) => log.error({ err: e }, "could not resume the paused source"));
      }
      // Not when the move's end is unknown: QEMU may still be finishing it onto those images.
      if (!this.unseenEnd) await this.deps.leftovers.discard(this.cmd.destination, this.dom, this.created.splice(0));
      else if (this.created.length > 0)
        log.warn({ images: this.created }, "the move's end is unknown: copied disk images kept until it is");
    }
    let downtimeMs: number | null = null;
    let downtimeSource: DowntimeSource = "none";
    let bytesMoved = this.last?.dataProcessed ?? 0;
    let vmRunningOn: string | null = null;
    // After a move the destination's libvirtd (maybe restarting) is the one that can say where the VM runs.
    const dest = outcome === "succeeded" ? await this.openDestination(VERIFY_DESTINATION_MS) : null;
    try {
      if (outcome === "succeeded") {
        const ddom = dest ? await dest.lookup(this.dom.uuid).catch(() => null) : null;
        if (ddom) {
          try {
            const done = await ddom.jobStats(true).catch(() => null);
            if (done) {
              if (done.downtimeMs !== null) {
                downtimeMs = done.downtimeMs;
                downtimeSource = "destination-completed-job";
              }
              if (done.dataProcessed > 0) bytesMoved = done.dataProcessed;
            }
            let st = await ddom.state();
            if (st === "paused" && this.pausedAtMs !== null) {
              await ddom.resume();
              st = await ddom.state();
              // The move ends when the guest runs again, on the destination: its pause lies within
              // the move, so the downtime reported is never longer than the duration.
              endedAtMs = Date.now();
              downtimeMs = endedAtMs - this.pausedAtMs;
              downtimeSource = "agent-pause-to-resume";
            }
            if (st === "running" || (!active && st === "shut-off")) vmRunningOn = this.cmd.destination.host;
          } finally {
            ddom.free();
          }
        }
        if (downtimeMs === null && this.postCopySwitch) {
          downtimeMs = await this.postCopySwitch;
          if (downtimeMs !== null) downtimeSource = "agent-postcopy-switch";
        }
        if (downtimeMs === null && !o.undefineOnSource) {
          const src = await this.dom.jobStats(true).catch(() => null);
          if (src?.downtimeMs != null) {
            downtimeMs = src.downtimeMs;
            downtimeSource = "source-completed-job";
          }
        }
      } else {
        const st = await this.dom.state().catch(() => null);
        if (st === "running" || st === "paused") vmRunningOn = this.deps.host;
      }
    } finally {
      if (dest) await dest.close().catch(() => undefined);
    }
    const completedBy: CompletedBy | null =
      outcome !== "succeeded"
        ? null
        : !active || o.offline
          ? "offline"
          : this.lastRung === "raise-downtime" ||
              this.lastRung === "auto-converge" ||
              this.lastRung === "post-copy" ||
              this.lastRung === "pause"
            ? this.lastRung
            : this.throttled || o.autoConverge
              ? "auto-converge"
              : "live";
    const result: MigrationResult = {
      ...this.header(),
      outcome,
      completedBy,
      startedAtMs: this.startedAtMs,
      endedAtMs,
      durationMs: endedAtMs - this.startedAtMs,
      downtimeMs,
      bytesMoved,
      escalations: [...this.escalations],
      ...(this.copies.length > 0 ? { copiedDisks: this.copies.map((c) => c.target) } : {}),
      vmRunningOn,
      error,
    };
    log.info(
      { migrationId: this.cmd.migrationId, outcome, completedBy, downtimeMs, downtimeSource, bytesMoved, durationMs: result.durationMs },
      "migration ended",
    );
    return result;
  }

  /**
   * The guest's stop in a post-copy switch: from the source seen paused (or, if never seen, the
   * switch asked at `askedAtMs`) to the destination seen running, both polled every 20 ms, so an
   * upper bound within about two polls. Null if the destination never answered or never ran.
   */
  private async timePostCopySwitch(askedAtMs: number): Promise<number | null> {
    const dest = await this.openDestination();
    if (!dest) return null;
    try {
      const ddom = await dest.lookup(this.dom.uuid).catch(() => null);
      if (!ddom) return null;
      try {
        let stoppedAtMs: number | null = null;
        for (const until = askedAtMs + POSTCOPY_SWITCH_WITHIN_MS; Date.now() < until; await sleep(20)) {
          if (stoppedAtMs === null && (await this.dom.state().catch(() => null)) === "paused") stoppedAtMs = Date.now();
          if ((await ddom.state().catch(() => null)) === "running") return Date.now() - (stoppedAtMs ?? askedAtMs);
        }
        return null;
      } finally {
        ddom.free();
      }
    } finally {
      await dest.close().catch(() => undefined);
    }
  }

  /** The destination's libvirtd, asked until it answers or `withinMs` passed (0: once). */
  private async openDestination(withinMs = 0): Promise<HvConnection | null> {
    const until = Date.now() + withinMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await withTimeout(this.deps.hv.open(this.cmd.destination.uri), this.deps.callTimeoutMs, "open destination");
      } catch (e) {
        if (Date.now() >= until) {
          this.deps.log.warn({ err: e, attempts: attempt }, "destination not reachable after the migration; result less complete");
          return null;
        }
        if (attempt === 1) this.deps.log.warn({ err: e }, "destination not reachable after the migration; asking again until it answers");
        await sleep(1000);
      }
    }
  }

  /**
   * This host's libvirtd no longer answers on the connection the move ran on (it died or restarted:
   * the socket is gone, or the agent's link has closed the connection already). Any failure counts:
   * what recovery then reads from libvirt is the truth either way, a guess from this error is not.
   */
  private async libvirtdGone(): Promise<boolean> {
    return withTimeout(this.dom.state(), this.deps.callTimeoutMs, "source state").then(
      () => false,
      () => true,
    );
  }

  private failurePhase(): FailurePhase {
    return this.phase === "post-copy" || this.phase === "paused-copy" ? "switchover" : this.reached;
  }

  /** The furthest phase the job stats showed (a failing job's last stats may read all zero). */
  private note(js: JobStats): void {
    if (this.reached === "switchover") return;
    if (js.expectedDowntimeMs !== null && js.expectedDowntimeMs <= this.maxDowntimeMs && js.memoryIteration > 1)
      this.reached = "switchover";
    else if (js.dataProcessed > 0 || (js.dataTotal > 0 && js.dataRemaining < js.dataTotal)) this.reached = "copy";
  }

  /**
   * The error of a failed migration, naming the hosts and the phase. A destination that does not
   * answer over the network from here (bare TCP probe of its libvirtd) is `destination-unreachable`;
   * one whose libvirtd went away (its connection closed, or it does not answer now) is `destination-lost`.
   */
  private async failureInfo(failure: unknown): Promise<{ code: string; message: string }> {
    const info = errorInfo(failure, AgentErrorCode.LibvirtError);
    const phase = this.failurePhase();
    const d = this.cmd.destination;
    const to = destinationName(d);
    const what = `migration of ${this.dom.name} from ${this.deps.host} to ${to} failed in the ${phase} phase`;
    // Checked first: the source's own connection closing reads like a peer's (PEER_GONE).
    if (this.unseenEnd === "libvirtd-lost") {
      return {
        code: AgentErrorCode.SourceLibvirtdLost,
        message: `${what}: ${this.deps.host}'s own libvirtd went away (libvirt: ${info.message})`,
      };
    }
    if (this.abortReason !== "requested" && (await peerReach(d.uri, PEER_PROBE_MS)) === "silent") {
      return {
        code: AgentErrorCode.DestinationUnreachable,
        message: `${what}: ${to} not reachable over the network from ${this.deps.host} (${d.uri} did not answer within ${PEER_PROBE_MS} ms; libvirt: ${info.message})`,
      };
    }
    let lost = PEER_GONE.test(info.message);
    if (!lost && !this.abortReason) {
      const probe = await this.openDestination();
      lost = probe === null;
      if (probe) await probe.close().catch(() => undefined);
    }
    if (lost) {
      return {
        code: AgentErrorCode.DestinationLost,
        message: `${what}: ${to}'s libvirtd (${d.uri}) went away (libvirt: ${info.message})`,
      };
    }
    return { code: info.code, message: `${what}: ${info.message}` };
  }
}
