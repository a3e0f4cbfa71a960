// A migration whose end this agent did not see: an earlier run of the agent started it (it is in
// the command journal) and was killed or restarted meanwhile, or this host's libvirtd went away
// under it, or its post-copy phase broke (migration.ts `unseenEnd`). libvirt runs a peer-to-peer
// migration on its own, so the job may still run, or have ended either way. The outcome comes from
// libvirt: the job on this host while it runs, then where the domain runs (here, or there).
import type { Logger, MigrationProgress, MigrationResult, VmState } from "@drover/protocol";
import type { MigrationRecord } from "./command-table.js";
import { destinationName } from "./destinations.js";
import { AgentErrorCode } from "./errors.js";
import type { HvConnection, HvDomain, Hypervisor, JobStats } from "./hypervisor.js";
import type { LeftoverImages } from "./leftover-images.js";
import { withTimeout, type LibvirtLink } from "./libvirt-link.js";
import { progressOfJob } from "./migration.js";

export interface RecoveryDeps {
  hv: Hypervisor;
  link: LibvirtLink;
  host: string;
  log: Logger;
  callTimeoutMs: number;
  progress: (p: MigrationProgress) => void;
  /** How often the job is looked at (default 1 s). */
  pollMs?: number;
  /** What kept the agent from seeing the end (default: its own restart). */
  cause?: RecoveryCause;
  /** Where the images of a copy that did not land go (removed there once its destination answers). */
  leftovers: LeftoverImages;
}

export type RecoveryCause = "agent-restart" | "libvirtd-lost" | "post-copy-broken";

/** Each cause as the result's words and its escalation label say it. */
const CAUSES = {
  "agent-restart": { while: (host: string) => `while the agent on ${host} was restarting`, label: "recovered-after-agent-restart" },
  "libvirtd-lost": { while: (host: string) => `while ${host}'s libvirtd was away`, label: "recovered-after-libvirtd-loss" },
  "post-copy-broken": { while: () => "after its post-copy phase broke", label: "recovered-after-post-copy-break" },
} as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const active = (s: VmState | null) => s === "running" || s === "paused";

interface Seen {
  state: VmState | null;
  completed: JobStats | null;
  reachable: boolean;
}

export class RecoveredMigration {
  private abortReason: "requested" | "timeout" | null = null;
  /** libvirt showed the source paused for a post-copy phase: the move switched (a restarted agent learns it so). */
  private sawSwitch = false;

  constructor(
    readonly commandId: string,
    readonly m: MigrationRecord,
    private readonly d: RecoveryDeps,
  ) {}

  get vmUuid(): string {
    return this.m.vmUuid;
  }

  /** Cancels the job if it still runs (an abort command, or the timeout). */
  async abort(reason: "requested" | "timeout" = "requested"): Promise<void> {
    this.abortReason ??= reason;
    await this.onLocalDomain((dom) => dom.abortJob());
  }

  /** `act` on the VM's domain on this host, if libvirtd answers and holds it; undefined otherwise. */
  private async onLocalDomain<T>(act: (dom: HvDomain) => Promise<T>): Promise<T | undefined> {
    const dom = await this.d.link.connection?.lookup(this.m.vmUuid).catch(() => null);
    if (!dom) return undefined;
    try {
      return await act(dom);
    } finally {
      dom.free();
    }
  }

  /** Mends what the unseen end left on this host (`act` says whether it changed anything), logged either way. */
  private async mendHere(done: string, act: (dom: HvDomain) => Promise<boolean>): Promise<boolean> {
    const ids = { migrationId: this.m.migrationId, vm: this.m.vm };
    try {
      const changed = (await this.onLocalDomain(act)) === true;
      if (changed) this.d.log.warn(ids, done);
      return changed;
    } catch (e) {
      this.d.log.error({ ...ids, err: e }, `not done: ${done}`);
      return false;
    }
  }

  async run(): Promise<MigrationResult> {
    const pollMs = this.d.pollMs ?? 1000;
    const log = this.d.log;
    log.info(
      { migrationId: this.m.migrationId, command: this.commandId, vm: this.m.vm, cause: this.d.cause ?? "agent-restart" },
      "recovering a migration whose end was not seen",
    );
    // 1. Wait for the job to end (libvirtd may be down for a while: keep asking until the deadline).
    const giveUpAt = this.m.startedAtMs + this.m.timeoutMs;
    for (;;) {
      const running = await this.jobRunning().catch((e: unknown) => {
        log.debug({ err: e }, "recovery: job not readable yet");
        return undefined;
      });
      if (running === false) break;
      // Past the switch nothing can cancel the move (libvirt refuses): what it left is the result.
      if (Date.now() > giveUpAt && this.postCopy) break;
      if (Date.now() > giveUpAt && !this.abortReason) {
        log.warn({ migrationId: this.m.migrationId }, "recovered migration past its timeout; aborting");
        await this.abort("timeout").catch((e: unknown) => log.error({ err: e }, "abortJob failed"));
      }
      if (running === undefined && Date.now() > giveUpAt + 60_000) break;
      await sleep(pollMs);
    }
    // 2. Where the domain runs decides. The destination answers for itself (its own libvirtd).
    let here = await this.here();
    let there = await this.there();
    for (let i = 0; i < 10 && (!there.reachable || !here.reachable) && !active(here.state); i++) {
      await sleep(pollMs);
      here = await this.here();
      there = await this.there();
    }
    if (active(there.state) && here.state === "shut-off" && this.m.undefineOnSource) await this.undefineHere();
    if (here.state === "paused" && !active(there.state) && this.m.guestRunning && (await this.resumeHere())) here = await this.here();
    const result = this.result(here, there);
    if (result.outcome !== "succeeded") await this.discardImages();
    return result;
  }

  /**
   * The images a copy that did not land made on its destination (kept while QEMU might still finish
   * onto them) go to the leftovers; one the VM is defined on there stays as its disk.
   */
  private async discardImages(): Promise<void> {
    const m = this.m;
    await this.d.leftovers
      .discard(m.destination, { name: m.vm, uuid: m.vmUuid }, m.images)
      .catch((e: unknown) =>
        this.d.log.error({ err: e, migrationId: m.migrationId, images: m.images }, "copied disk images not discarded"),
      );
  }

  /**
   * The move failed and left the guest paused here, though it ran when the move began: the move
   * paused it (offline, or the ladder's pause rung) and, cut off from libvirt or restarted, never
   * resumed it. Left so, the guest is down with nothing moving it. True when it was resumed.
   */
  private resumeHere(): Promise<boolean> {
    return this.mendHere("the guest the failed move had paused is resumed here", async (dom) => {
      // Never a source whose post-copy began (libvirt's reason for the pause says so, whatever the
      // journal says): its memory lacks what the guest wrote on the destination since the switch.
      if (await withTimeout(dom.pausedForPostCopy(), this.d.callTimeoutMs, "state")) return false;
      await withTimeout(dom.resume(), this.d.callTimeoutMs, "resume");
      return true;
    });
  }

  /**
   * The move landed but this host still holds the VM's definition, shut off: libvirt's last step
   * (which undefines the source, as the command asked) never ran. Left, it is a second copy
   * someone could start on the same disks.
   */
  private undefineHere(): Promise<boolean> {
    return this.mendHere("the moved VM's stale definition on this host removed", async (dom) => {
      if ((await withTimeout(dom.state(), this.d.callTimeoutMs, "state")) !== "shut-off") return false;
      await withTimeout(dom.undefine(), this.d.callTimeoutMs, "undefine");
      return true;
    });
  }

  /** The move is past its switch to post-copy: it cannot go back, only complete or wait to be resumed. */
  private get postCopy(): boolean {
    return this.d.cause === "post-copy-broken" || this.sawSwitch;
  }

  /**
   * true while the job runs on this host, false once it ended (or the domain left), undefined when
   * libvirtd does not answer. After a broken post-copy the job reads as failed while QEMU here still
   * serves the guest's memory and finishes the copy once the link is back: that move runs until the
   * domain here is no longer active. The switch is read from libvirt, not only from the cause: an
   * agent restarted during such a phase has no other way to know it.
   */
  private async jobRunning(): Promise<boolean | undefined> {
    const conn = this.d.link.connection;
    if (!conn) return undefined;
    const dom = await withTimeout(conn.lookup(this.m.vmUuid), this.d.callTimeoutMs, "lookup");
    if (!dom) return false;
    try {
      // An inactive domain runs no job (and libvirt refuses to read one: that is not "not answering").
      const state = await withTimeout(dom.state(), this.d.callTimeoutMs, "state");
      if (!active(state)) return false;
      if (state === "paused") this.sawSwitch ||= await withTimeout(dom.pausedForPostCopy(), this.d.callTimeoutMs, "state");
      const js = await withTimeout(dom.jobStats(false), this.d.callTimeoutMs, "job stats");
      if (!js || js.type === "none" || js.type === "completed" || js.type === "failed" || js.type === "cancelled") return this.postCopy;
      this.publish(js);
      return true;
    } finally {
      dom.free();
    }
  }

  private async here(): Promise<Seen> {
    const conn = this.d.link.connection;
    if (!conn) return { state: null, completed: null, reachable: false };
    return this.look(conn, false).catch(() => ({ state: null, completed: null, reachable: false }));
  }

  private async there(): Promise<Seen> {
    let conn: HvConnection | undefined;
    try {
      conn = await withTimeout(this.d.hv.open(this.m.destination.uri), this.d.callTimeoutMs, "open destination");
      return await this.look(conn, true);
    } catch (e) {
      this.d.log.warn({ err: e, destination: destinationName(this.m.destination) }, "recovery: destination not reachable");
      return { state: null, completed: null, reachable: false };
    } finally {
      if (conn) await conn.close().catch(() => undefined);
    }
  }

  private async look(conn: HvConnection, completed: boolean): Promise<Seen> {
    const dom = await withTimeout(conn.lookup(this.m.vmUuid), this.d.callTimeoutMs, "lookup");
    if (!dom) return { state: null, completed: null, reachable: true };
    try {
      const state = await withTimeout(dom.state(), this.d.callTimeoutMs, "state");
      const done = completed ? await withTimeout(dom.jobStats(true), this.d.callTimeoutMs, "completed job").catch(() => null) : null;
      return { state, completed: done, reachable: true };
    } finally {
      dom.free();
    }
  }

  private result(here: Seen, there: Seen): MigrationResult {
    const m = this.m;
    const cause = CAUSES[this.d.cause ?? "agent-restart"];
    const during = cause.while(this.d.host);
    const to = destinationName(m.destination);
    const now = Date.now();
    const moved = active(there.state) && !active(here.state);
    const stayed = active(here.state) && !active(there.state);
    let outcome: MigrationResult["outcome"];
    let error: MigrationResult["error"] = null;
    let vmRunningOn: string | null = null;
    if (moved) {
      outcome = "succeeded";
      vmRunningOn = there.state === "running" ? m.destination.host : null;
    } else if (stayed && !this.postCopy) {
      outcome = this.abortReason === "timeout" ? "timed-out" : this.abortReason ? "aborted" : "failed";
      vmRunningOn = here.state === "running" ? this.d.host : null;
      error = {
        code:
          outcome === "failed"
            ? AgentErrorCode.MigrationInterrupted
            : outcome === "aborted"
              ? AgentErrorCode.Aborted
              : AgentErrorCode.Timeout,
        message: `the migration of ${m.vm} to ${to} ended ${during}, without moving it: it runs on ${this.d.host}`,
      };
    } else if (this.postCopy) {
      outcome = "failed";
      error = {
        code: AgentErrorCode.PostCopyBroken,
        message: active(there.state)
          ? `the post-copy migration of ${m.vm} to ${to} broke and did not complete within ${m.timeoutMs} ms: ${m.vm} is split between ${this.d.host} and ${to} (its memory partly on each) and runs on neither until its move is resumed (on ${this.d.host}: virsh migrate --postcopy --postcopy-resume with the move's own flags, to ${m.destination.uri})`
          : `the post-copy migration of ${m.vm} to ${to} broke and ${to} no longer runs it: ${
              active(here.state)
                ? `the copy left on ${this.d.host} lacks what the guest wrote on ${to}, so it is not resumed`
                : "it is active on neither host"
            }${there.reachable ? "" : ` (${to}'s libvirtd did not answer)`}`,
      };
    } else {
      outcome = "failed";
      error = {
        code: AgentErrorCode.MigrationInterrupted,
        message: `the migration of ${m.vm} to ${to} ended ${during}; ${m.vm} is ${
          active(here.state) ? `active on both ${this.d.host} and ${to}` : "active on neither host"
        }${there.reachable ? "" : ` (${to}'s libvirtd did not answer)`}`,
      };
    }
    // The destination's completed job measured the move itself; the agent was not there to.
    const done = moved ? there.completed : null;
    const durationMs = done?.elapsedMs ?? now - m.startedAtMs;
    const result: MigrationResult = {
      v: 1,
      migrationId: m.migrationId,
      commandId: this.commandId,
      vm: m.vm,
      vmUuid: m.vmUuid,
      source: this.d.host,
      destination: m.destination.host,
      outcome,
      // Unknown: the rungs climbed were not seen to their end; but a switch to post-copy was seen.
      completedBy: moved && this.postCopy ? "post-copy" : null,
      startedAtMs: m.startedAtMs,
      endedAtMs: done?.elapsedMs != null ? m.startedAtMs + done.elapsedMs : now,
      durationMs,
      downtimeMs: done?.downtimeMs ?? null,
      bytesMoved: done?.dataProcessed ?? 0,
      escalations: [cause.label],
      vmRunningOn,
      error,
    };
    this.d.log.info(
      { migrationId: m.migrationId, outcome, vmRunningOn, here: here.state, there: there.state, durationMs },
      "recovered migration ended",
    );
    return result;
  }

  private publish(js: JobStats): void {
    const now = Date.now();
    try {
      this.d.progress({
        v: 1,
        migrationId: this.m.migrationId,
        commandId: this.commandId,
        vm: this.m.vm,
        vmUuid: this.m.vmUuid,
        source: this.d.host,
        destination: this.m.destination.host,
        timeMs: now,
        elapsedMs: now - this.m.startedAtMs,
        phase: "copying",
        ...progressOfJob(js),
        escalations: [CAUSES[this.d.cause ?? "agent-restart"].label],
      });
    } catch (e) {
      this.d.log.warn({ err: e }, "progress not published");
    }
  }
}
