// Sends commands to host agents. Only the dispatcher, the power manager and reconciliation use it;
// every command carries an id the caller chose (and, for moves, persisted first).
import type { Bus } from "@drover/bus";
import { Command, CommandReply, PROTOCOL_VERSION, subjects, type CommandInput, type Destination, type Logger } from "@drover/protocol";
import type { Clock } from "./clock.js";
import type { Leadership } from "./leadership.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type CommandBody = DistributiveOmit<CommandInput, "v" | "issuedAtMs" | "issuedBy">;

/** How many sent command ids `issued` remembers (oldest forgotten first): hours of a busy cluster. */
const LEDGER_SIZE = 20_000;

const fingerprint = (kind: string, vm: string | null, d: Destination | null): string =>
  JSON.stringify([kind, vm, d?.host ?? null, d?.uri ?? null, d?.hostUuid ?? null]);

export class AgentClient {
  /** Commands sent, by kind (tests and metrics). */
  readonly sent = new Map<string, number>();
  /** `${host} ${id}` -> fingerprint (kind, VM, destination) of each command this process sent, oldest first. */
  private readonly ledger = new Map<string, string>();

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
    // Before the send: the agent's event about it may arrive before the reply does.
    if (body.kind !== "status") {
      this.ledger.set(
        `${host} ${body.id}`,
        fingerprint(body.kind, "vm" in body ? body.vm : null, "destination" in body ? body.destination : null),
      );
      if (this.ledger.size > LEDGER_SIZE) this.ledger.delete(this.ledger.keys().next().value as string);
    }
    this.log.debug({ host, kind: body.kind, id: body.id }, "command sent");
    return this.bus.request(subjects.hostCommand(this.cluster, host), Command, cmd, CommandReply, { timeoutMs });
  }

  /**
   * This process sent this command (id, kind, VM and destination) to this host, among the last
   * LEDGER_SIZE it sent. The contents count: an agent that forgot an id would run another body under it.
   */
  issued(host: string, c: { id: string; kind: string; vm: string | null; destination: Destination | null }): boolean {
    return this.ledger.get(`${host} ${c.id}`) === fingerprint(c.kind, c.vm, c.destination);
  }

  /** Asks the agent what became of an earlier command. */
  status(host: string, commandId: string, statusId: string): Promise<CommandReply> {
    return this.send(host, { kind: "status", id: statusId, commandId });
  }
}
