import { spawn } from "node:child_process";
import { sendMagicPacket, WolError } from "@drover/wol";
import type {
  Command,
  CommandEventInfo,
  CommandReply,
  DestinationFacts,
  Logger,
  MigrateCommand,
  MigrationResult,
  PreflightCommand,
  WakePeerCommand,
} from "@drover/protocol";
import { join } from "node:path";
import { CommandTable, migrationRecord, type MigrationRecord } from "./command-table.js";
import type { AgentConfig } from "./config.js";
import { destinationName, verifyDestination } from "./destinations.js";
import { AgentError, AgentErrorCode, errorInfo } from "./errors.js";
import type { HvConnection, HvDomain, Hypervisor } from "./hypervisor.js";
import type { LibvirtLink } from "./libvirt-link.js";
import { MigrationRun, type MigrationDeps } from "./migration.js";
import { runPreflight, type PreflightDeps } from "./preflight.js";
import { describeDomain } from "./domain-xml.js";
import { diskCopies, type DiskCopy } from "./storage.js";
import { LeftoverImages, leftoverImagesFile, removeMovedDisks } from "./leftover-images.js";
import { RecoveredMigration, type RecoveryCause } from "./recovery.js";
import { ResultOutbox } from "./result-outbox.js";
import { LeaseFence, leaseFenceFile } from "./lease-fence.js";

export interface CommandDeps {
  config: AgentConfig;
  hv: Hypervisor;
  link: LibvirtLink;
  log: Logger;
  preflightDeps: () => Promise<Omit<PreflightDeps, "hv">>;
  migrationDeps: Omit<MigrationDeps, "hv" | "leftovers" | "imageCreated">;
  /** Stores a result in the results stream; resolves on the server's ack (retried by the outbox until then). */
  publishResult: (r: MigrationResult) => Promise<void>;
  hostEvent: (kind: "powering-off", detail: string) => void;
  /** Publishes what was done with a command, whoever sent it. */
  commandEvent: (e: CommandEventInfo) => void;
  /** A peer's latest report on its cluster's subjects, whatever its age (waiting a little for a first one); null if none. */
  knownPeer: (host: string, cluster: string) => Promise<DestinationFacts | null>;
  /** The destination's report as a command from the scheduler brings it (kept if newer than the agent's own). */
  offerPeer: (facts: DestinationFacts) => void;
  /** Called when a migration starts or ends, so reports mark the VM and refresh its XML. */
  onMigration: (uuid: string, running: boolean) => void;
}

type Kind = CommandReply["kind"];

/** A migration this agent follows: one it runs, or one recovered from the journal after a restart. */
interface Outgoing {
  vmUuid: string;
  commandId: string;
  abort(): Promise<void>;
}

/** The journal of migrate commands under the agent's state dir (see CommandTable). */
export function commandJournalFile(stateDir: string): string {
  return join(stateDir, "agent-commands.json");
}

/**
 * Runs commands. Each id is remembered (bounded table): a repeated id gets the first one's
 * status back and changes nothing. Long commands (migrate, power-off) answer `accepted` at once.
 */
export class CommandRunner {
  private readonly table: CommandTable;
  private readonly outbox: ResultOutbox;
  private readonly runs = new Map<string, { run: Outgoing; done: Promise<MigrationResult> }>();
  private closing = false;
  /** Refuses commands of a deposed leader (this agent serves one cluster); kept under the state dir. */
  private readonly fence: LeaseFence;
  /** Disk images failed copies left on destinations they could not reach; kept under the state dir. */
  private readonly leftovers: LeftoverImages;

  constructor(private readonly d: CommandDeps) {
    const stateDir = d.config.stateDir;
    this.table = new CommandTable(
      d.config.commandTableSize,
      stateDir ? { file: commandJournalFile(stateDir), host: d.config.host, log: d.log } : undefined,
    );
    this.fence = new LeaseFence(d.log, stateDir ? { file: leaseFenceFile(stateDir), host: d.config.host } : undefined);
    this.leftovers = new LeftoverImages({
      hv: d.hv,
      host: d.config.host,
      log: d.log,
      callTimeoutMs: d.config.libvirt.callTimeoutMs,
      ...(stateDir ? { file: leftoverImagesFile(stateDir) } : {}),
    });
    if (!stateDir)
      d.log.warn(
        {},
        "no stateDir: migrations in flight, the highest lease revision and images left on destinations are forgotten if this agent restarts",
      );
    this.outbox = new ResultOutbox({ send: d.publishResult, acked: (id) => this.table.resultStored(id), log: d.log });
  }

  /** Called on the agent's report tick: removes images failed copies left on destinations, when due. */
  sweepLeftovers(): void {
    this.leftovers.sweepIfDue();
  }

  /** The bus is back: results owed are tried at once rather than at their next back-off. */
  busReconnected(): void {
    this.outbox.kick();
  }

  /** Results not yet acked by the results stream. */
  get resultsOwed(): number {
    return this.outbox.size;
  }

  /** uuids of VMs with a migration running out of this host. */
  migratingVms(): Set<string> {
    return new Set([...this.runs.values()].map((r) => r.run.vmUuid));
  }

  /**
   * Follows the migrations the journal says an earlier run of this agent started and did not see
   * end: each is found in libvirt (recovery.ts) and its result published by the same command and
   * migration ids; meanwhile `status` answers for them from the journal.
   */
  recover(): void {
    // Results an earlier run had not had acked: owed still, under the same command ids.
    for (const r of this.table.owedResults()) this.outbox.add(r);
    for (const { id, migration } of this.table.unfinished()) {
      if (this.runs.has(migration.migrationId)) continue;
      const rec = this.recovery(id, migration, "agent-restart");
      this.follow(
        migration.migrationId,
        rec,
        rec.run().then((r) => this.afterLanding(r, migration)),
      );
    }
  }

  async handle(cmd: Command): Promise<CommandReply> {
    if (cmd.kind === "status") return this.status(cmd.commandId);
    const reply = await this.run(cmd);
    this.d.commandEvent({
      id: cmd.id,
      kind: cmd.kind,
      issuedBy: cmd.issuedBy,
      vm: "vm" in cmd ? cmd.vm : null,
      destination: "destination" in cmd ? cmd.destination : null,
      outcome: reply.status,
      duplicate: reply.duplicate,
      error: reply.error,
    });
    return reply;
  }

  private async run(cmd: Exclude<Command, { kind: "status" }>): Promise<CommandReply> {
    // Fencing, before the id is remembered: the new leader may send this same (persisted) id again.
    const stale = this.fence.check(cmd.leaseRevision);
    if (stale) return this.reply(cmd.id, cmd.kind, "refused", { error: errorInfo(stale, AgentErrorCode.Internal) });
    const seen = this.table.get(cmd.id);
    if (seen) return { ...seen, duplicate: true, timeMs: Date.now() };
    const t0 = Date.now();
    // Claim the id before any await so that a concurrent duplicate sees it.
    this.table.claim(cmd.id, this.reply(cmd.id, cmd.kind, "running"));
    let reply: CommandReply;
    try {
      if (this.closing) throw new AgentError(AgentErrorCode.ShuttingDown, "the agent is shutting down");
      switch (cmd.kind) {
        case "preflight":
          reply = await this.preflight(cmd);
          break;
        case "migrate":
          reply = await this.migrate(cmd);
          break;
        case "abort":
          reply = await this.abort(cmd.id, cmd.migrationId);
          break;
        case "power-off":
          reply = await this.powerOff(cmd.id);
          break;
        case "wake-peer":
          reply = await this.wake(cmd);
          break;
      }
    } catch (e) {
      const refused = e instanceof AgentError;
      reply = this.reply(cmd.id, cmd.kind, refused ? "refused" : "failed", { error: errorInfo(e, AgentErrorCode.Internal) });
      this.d.log.warn({ cmd: cmd.id, kind: cmd.kind, err: e }, `command ${refused ? "refused" : "failed"}`);
    }
    reply = { ...reply, elapsedMs: Date.now() - t0 };
    this.table.update(cmd.id, reply);
    return reply;
  }

  private status(commandId: string): CommandReply {
    const seen = this.table.get(commandId);
    if (seen) return { ...seen, timeMs: Date.now() };
    return this.reply(commandId, "status", "refused", {
      error: {
        code: AgentErrorCode.UnknownCommand,
        message: `no command ${commandId} known to this agent (never seen, or forgotten by a restart)`,
      },
    });
  }

  private reply(id: string, kind: Kind, status: CommandReply["status"], extra: Partial<CommandReply> = {}): CommandReply {
    return { v: 1, id, host: this.d.config.host, kind, status, duplicate: false, error: null, timeMs: Date.now(), ...extra };
  }

  private conn(): HvConnection {
    const c = this.d.link.connection;
    if (!c) throw new AgentError(AgentErrorCode.LibvirtUnavailable, `libvirtd at ${this.d.config.libvirt.uri} is not reachable`);
    return c;
  }

  private async vm(ref: string): Promise<HvDomain> {
    const dom = await this.conn()
      .lookup(ref)
      .catch((e: unknown) => {
        this.d.link.noteError(e);
        throw new AgentError(AgentErrorCode.LibvirtError, `looking up VM ${ref} failed: ${(e as Error).message}`, { cause: e });
      });
    if (!dom) throw new AgentError(AgentErrorCode.VmNotOnHost, `vm not on this host: ${ref} is not defined on ${this.d.config.host}`);
    return dom;
  }

  private async preflight(cmd: PreflightCommand): Promise<CommandReply> {
    const facts = cmd.destinationFacts;
    const peer = await verifyDestination(cmd.destination, this.d.config, (host, cluster) => {
      // Offered only once the cluster is allowed, so a command cannot have this agent follow any other.
      if (facts && facts.host === host && facts.cluster === cluster) this.d.offerPeer(facts);
      return this.d.knownPeer(host, cluster);
    });
    const dom = await this.vm(cmd.vm);
    try {
      const checks = await runPreflight(
        {
          vm: dom,
          destination: cmd.destination,
          copyStorage: cmd.copyStorage,
          reportedHostUuid: peer.hostUuid ?? null,
          allowOlderHypervisor: cmd.allowOlderHypervisor,
        },
        { ...(await this.d.preflightDeps()), hv: this.d.hv },
      );
      const failed = checks.filter((c) => !c.ok);
      return this.reply(cmd.id, "preflight", failed.length ? "failed" : "succeeded", {
        checks,
        error: failed.length ? { code: "preflight-failed", message: failed.map((c) => `${c.check}: ${c.reason}`).join("; ") } : null,
      });
    } finally {
      dom.free();
    }
  }

  private async migrate(cmd: MigrateCommand): Promise<CommandReply> {
    const existing = this.runs.get(cmd.migrationId);
    if (existing) {
      throw new AgentError(AgentErrorCode.VmBusy, `migration ${cmd.migrationId} is already running (command ${existing.run.commandId})`);
    }
    // A host of another cluster may have this host's id.
    if (cmd.destination.host === this.d.config.host && (cmd.destination.cluster ?? this.d.config.cluster) === this.d.config.cluster)
      throw new AgentError(AgentErrorCode.VmBusy, "destination is this host");
    const o = cmd.options;
    if (o.postCopyAfterFirstPass && (!o.allowPostCopy || o.offline)) {
      throw new AgentError(
        AgentErrorCode.InvalidCommand,
        `options.postCopyAfterFirstPass needs allowPostCopy and a live move (allowPostCopy ${o.allowPostCopy}, offline ${o.offline})`,
      );
    }
    const peer = await verifyDestination(cmd.destination, this.d.config, this.d.knownPeer);
    if (this.runs.size >= this.d.config.migration.maxConcurrent) {
      throw new AgentError(AgentErrorCode.VmBusy, `${this.runs.size} migrations already running (migration.maxConcurrent)`);
    }
    const dom = await this.vm(cmd.vm);
    if (this.migratingVms().has(dom.uuid)) {
      dom.free();
      throw new AgentError(AgentErrorCode.VmBusy, `vm ${dom.name} is already migrating`);
    }
    let copies: DiskCopy[];
    try {
      copies = await this.diskCopies(cmd, dom, peer);
    } catch (e) {
      dom.free();
      throw e;
    }
    const run = new MigrationRun(
      cmd,
      dom,
      { ...this.d.migrationDeps, hv: this.d.hv, leftovers: this.leftovers, imageCreated: (path) => this.table.recordImage(cmd.id, path) },
      copies,
    );
    // On disk before libvirt is asked: a restarted agent must find this job and answer for it.
    const record = migrationRecord(cmd, dom, run.startedAtMs, (await dom.state().catch(() => null)) === "running");
    this.table.recordMigration(cmd.id, record);
    // As the journal has it now: with the images the move has created.
    const journalled = () => this.table.migration(cmd.id) ?? record;
    let recovering: RecoveredMigration | null = null;
    const outgoing: Outgoing = { vmUuid: dom.uuid, commandId: cmd.id, abort: () => (recovering ?? run).abort() };
    const ran = run
      .run()
      .then((r) => {
        const cause = run.unseenEnd;
        if (!cause) return r;
        // The job may still end either way without us: what libvirt shows decides.
        this.d.log.warn(
          { migrationId: cmd.migrationId, vm: dom.name, cause },
          cause === "libvirtd-lost"
            ? "this host's libvirtd went away mid-migration; waiting for it to say where the VM runs"
            : "post-copy broke mid-migration; following the move to its end",
        );
        recovering = this.recovery(cmd.id, journalled(), cause);
        return recovering.run();
      })
      .then((r) => this.afterLanding(r, journalled()));
    const done = ran.catch((e: unknown): MigrationResult => {
      const now = Date.now();
      return {
        v: 1,
        migrationId: cmd.migrationId,
        commandId: cmd.id,
        vm: dom.name,
        vmUuid: dom.uuid,
        source: this.d.config.host,
        destination: cmd.destination.host,
        outcome: "failed",
        completedBy: null,
        startedAtMs: run.startedAtMs,
        endedAtMs: now,
        durationMs: now - run.startedAtMs,
        downtimeMs: null,
        bytesMoved: 0,
        escalations: [],
        vmRunningOn: null,
        error: errorInfo(e, AgentErrorCode.Internal),
      };
    });
    this.follow(
      cmd.migrationId,
      outgoing,
      done.finally(() => dom.free()),
    );
    return this.reply(cmd.id, "migrate", "accepted", { migrationId: cmd.migrationId });
  }

  /** The move's end, once what a landed copy left here is removed (the result stands whatever that meets). */
  private async afterLanding(r: MigrationResult, m: MigrationRecord): Promise<MigrationResult> {
    const d = { log: this.d.log, callTimeoutMs: this.d.config.libvirt.callTimeoutMs };
    await removeMovedDisks(m, r, this.d.link.connection ?? null, d).catch((e: unknown) =>
      this.d.log.error({ err: e }, "moved disks not cleaned up"),
    );
    return r;
  }

  /** Follows a migration whose end this agent did not see, from what libvirt shows (recovery.ts). */
  private recovery(commandId: string, m: MigrationRecord, cause: RecoveryCause): RecoveredMigration {
    return new RecoveredMigration(commandId, m, {
      hv: this.d.hv,
      link: this.d.link,
      host: this.d.config.host,
      log: this.d.log,
      callTimeoutMs: this.d.config.libvirt.callTimeoutMs,
      progress: this.d.migrationDeps.progress,
      leftovers: this.leftovers,
      cause,
    });
  }

  /**
   * The disks this move must copy: those on storage the destination (by its report) does not share.
   * A VM with such a disk is never sent as a shared-storage move: without copy-storage the command
   * is refused, as is a shut-off VM's (libvirt moves only its definition).
   */
  private async diskCopies(cmd: MigrateCommand, dom: HvDomain, peer: DestinationFacts): Promise<DiskCopy[]> {
    const { classifier, mounts } = await this.d.preflightDeps();
    const disks = describeDomain(await dom.xml(false)).disks;
    const sizes = disks.some((d) => d.path !== null && !d.network) ? await dom.diskSizes() : [];
    const copies = diskCopies(disks, sizes, classifier, mounts, peer.storage);
    if (copies.length === 0) return copies;
    const which = copies.map((c) => `${c.target} (${c.path})`).join(", ");
    if (!cmd.options.copyStorage) {
      throw new AgentError(
        AgentErrorCode.LocalDisk,
        `${dom.name} has disk(s) ${which} on storage ${destinationName(cmd.destination)} does not share; a move without copy-storage would leave them behind`,
      );
    }
    if ((await dom.state()) === "shut-off") {
      throw new AgentError(AgentErrorCode.LocalDisk, `${dom.name} is shut off: its disk(s) ${which} cannot be copied by an offline move`);
    }
    return copies;
  }

  /** Tracks a migration to its result: the table and journal get the outcome, the outbox stores the result in the stream. */
  private follow(migrationId: string, run: Outgoing, result: Promise<MigrationResult>): void {
    this.d.onMigration(run.vmUuid, true);
    const done = result.then((r) => {
      this.runs.delete(migrationId);
      this.d.onMigration(run.vmUuid, false);
      const status = r.outcome === "succeeded" ? "succeeded" : "failed";
      this.table.finishMigration(run.commandId, { status, error: r.error, timeMs: Date.now() }, r);
      this.outbox.add(r);
      return r;
    });
    this.runs.set(migrationId, { run, done });
  }

  private async abort(id: string, migrationId: string): Promise<CommandReply> {
    const r = this.runs.get(migrationId);
    if (!r) throw new AgentError(AgentErrorCode.UnknownMigration, `no migration ${migrationId} is running on this host`);
    await r.run.abort();
    return this.reply(id, "abort", "succeeded", { migrationId });
  }

  private async powerOff(id: string): Promise<CommandReply> {
    const argv = this.d.config.power.offCommand;
    if (!argv) throw new AgentError(AgentErrorCode.PowerOffNotConfigured, "power.offCommand is not configured on this host");
    const stats = await this.conn().domainStats();
    const live = stats.filter((s) => s.state !== "shut-off" && s.state !== "crashed");
    if (live.length || this.runs.size) {
      throw new AgentError(
        AgentErrorCode.VmsRunning,
        `refused: ${live.length} VM(s) run here (${live.map((s) => s.name).join(", ")})${this.runs.size ? ` and ${this.runs.size} migration(s) are in flight` : ""}`,
      );
    }
    this.d.hostEvent("powering-off", `running ${argv.join(" ")}`);
    // Run after the reply has left: a real poweroff may take this process with it.
    setTimeout(() => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        stdio: "ignore",
        ...(this.d.config.power.offCwd ? { cwd: this.d.config.power.offCwd } : {}),
      });
      child.once("error", (e) => {
        this.d.log.error({ err: e }, "power-off command could not start");
        this.table.update(id, { status: "failed", error: { code: AgentErrorCode.PowerOffFailed, message: e.message } });
      });
      child.once("exit", (code) => {
        this.table.update(
          id,
          code === 0
            ? { status: "succeeded" }
            : { status: "failed", error: { code: AgentErrorCode.PowerOffFailed, message: `${argv[0]} exited with ${code}` } },
        );
      });
    }, 100);
    return this.reply(id, "power-off", "accepted");
  }

  private async wake(cmd: WakePeerCommand): Promise<CommandReply> {
    let bytes: number;
    try {
      bytes = await sendMagicPacket(cmd, { labSafe: this.d.config.labSafeNetwork });
    } catch (e) {
      // An unsafe address or a bad MAC is refused (AgentError); a send that fails is a failure.
      if (e instanceof WolError && e.code !== "send-failed") throw new AgentError(AgentErrorCode.UnsafeAddress, e.message, { cause: e });
      throw e;
    }
    this.d.log.info({ target: cmd.target, mac: cmd.mac, address: cmd.address, port: cmd.port, bytes }, "magic packet sent");
    return this.reply(cmd.id, "wake-peer", "succeeded");
  }

  /** Aborts migrations in flight (the VM stays here: safe) and waits for their results. */
  async close(waitMs: number): Promise<void> {
    this.closing = true;
    const runs = [...this.runs.values()];
    await Promise.all(runs.map((r) => r.run.abort().catch(() => undefined)));
    // The bound's timer is cleared once the runs ended: left pending, it held the process up to
    // main's 2 s exit guard after every shutdown (each lab teardown and agent restart waited for it).
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(runs.map((r) => r.done)), new Promise((r) => (bound = setTimeout(r, waitMs)))]);
    clearTimeout(bound);
    // What is still owed stays in the journal for the next run.
    await this.outbox.close();
  }
}
