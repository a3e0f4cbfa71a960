// Sends commands to host agents. Only the dispatcher, the power manager and reconciliation use it;
// every command carries an id the caller chose (and, for moves, persisted first).
import type { Bus } from "@drover/bus";
import { Command, CommandReply, PROTOCOL_VERSION, subjects, type CommandInput, type Logger } from "@drover/protocol";
import type { Clock } from "./clock.js";
import type { Leadership } from "./leadership.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type CommandBody = DistributiveOmit<CommandInput, "v" | "issuedAtMs" | "issuedBy">;

export class AgentClient {
  /** Commands sent, by kind (tests and metrics). */
  readonly sent = new Map<string, number>();

  constructor(
    private readonly bus: Bus,
    private readonly cluster: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly leadership: Pick<Leadership, "mayAct" | "fence" | "notLeader">,
    /** Records a migrate command where a next leader finds it (journal.ts), before it is sent; a failure sends nothing. */
    private readonly recordMigrate?: (host: string, cmd: Extract<CommandInput, { kind: "migrate" }>) => Promise<void>,
  ) {}

  /** Refused (RefusedError `not-leader`) unless this scheduler leads; carries the lease revision that fences it. */
  async send(host: string, body: CommandBody, timeoutMs = this.timeoutMs): Promise<CommandReply> {
    // Checked at the moment of sending: a scheduler that lost its lease stops sending at once.
    if (!this.leadership.mayAct()) throw this.leadership.notLeader();
    const leaseRevision = this.leadership.fence();
    const cmd = {
      ...body,
      v: PROTOCOL_VERSION,
      issuedAtMs: this.clock.now(),
      issuedBy: "scheduler",
      ...(leaseRevision === undefined ? {} : { leaseRevision }),
    } as CommandInput;
    if (cmd.kind === "migrate" && this.recordMigrate) {
      await this.recordMigrate(host, cmd);
      if (!this.leadership.mayAct()) throw this.leadership.notLeader(); // lost while recording
    }
    this.sent.set(body.kind, (this.sent.get(body.kind) ?? 0) + 1);
    this.log.debug({ host, kind: body.kind, id: body.id }, "command sent");
    return this.bus.request(subjects.hostCommand(this.cluster, host), Command, cmd, CommandReply, { timeoutMs });
  }

  /** Asks the agent what became of an earlier command. */
  status(host: string, commandId: string, statusId: string): Promise<CommandReply> {
    return this.send(host, { kind: "status", id: statusId, commandId });
  }
}
