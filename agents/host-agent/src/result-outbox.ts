// A migration's result settles the move at the scheduler, so it is never dropped: it is stored in
// the results stream with the server's ack (the command id as the message id, so a retry is
// stored once), and until that ack it stays here and in the command journal, tried again with
// back-off across a NATS outage and, through the journal, across a restart of this agent.
import { InvalidMessageError } from "@drover/bus";
import type { Logger, MigrationResult } from "@drover/protocol";

export interface OutboxDeps {
  /** Stores the result in the stream; resolves on the server's ack, throws otherwise. */
  send: (r: MigrationResult) => Promise<void>;
  /** The ack arrived: the journal may forget that this result is owed. */
  acked: (commandId: string) => void;
  log: Logger;
  /** First retry delay; doubles per failure up to `maxRetryMs` (defaults 500 ms and 15 s). */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

export class ResultOutbox {
  private readonly pending = new Map<string, { result: MigrationResult; failures: number }>();
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly d: OutboxDeps) {}

  /** Results owed (not acked yet), by command id. */
  get size(): number {
    return this.pending.size;
  }

  /** Owes `r` until the stream acks it; tries at once. A result already owed is not added twice. */
  add(r: MigrationResult): void {
    if (!this.pending.has(r.commandId)) this.pending.set(r.commandId, { result: r, failures: 0 });
    this.flushSoon(0);
  }

  /** Tries everything owed now (the bus just reconnected). */
  kick(): void {
    if (this.pending.size) this.flushSoon(0);
  }

  /** Stops retrying; what is owed stays in the journal for the next run of this agent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.sending;
  }

  private flushSoon(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
  }

  private async flush(): Promise<void> {
    if (this.sending) {
      // One pass at a time; this one is looked at again when the pass under way ends.
      await this.sending;
      return this.flush();
    }
    this.sending = this.pass().finally(() => (this.sending = null));
    await this.sending;
  }

  private async pass(): Promise<void> {
    let retryMs = 0;
    for (const [id, p] of [...this.pending]) {
      if (this.closed) return;
      try {
        await this.d.send(p.result);
        this.pending.delete(id);
        this.d.acked(id);
        this.d.log.info(
          { migrationId: p.result.migrationId, cmd: id, outcome: p.result.outcome, attempts: p.failures + 1 },
          "migration result stored",
        );
      } catch (e) {
        if (e instanceof InvalidMessageError) {
          // A bug, not an outage: no retry would make it valid. Said loudly, then forgotten.
          this.pending.delete(id);
          this.d.acked(id);
          this.d.log.error({ err: e, migrationId: p.result.migrationId, cmd: id }, "migration result invalid; not stored");
          continue;
        }
        p.failures++;
        const first = this.d.firstRetryMs ?? 500;
        // Jittered, so a fleet of agents does not retry in step after an outage.
        const delay = Math.round(Math.min(this.d.maxRetryMs ?? 15_000, first * 2 ** (p.failures - 1)) * (0.8 + Math.random() * 0.4));
        retryMs = retryMs ? Math.min(retryMs, delay) : delay;
        const level = p.failures === 1 ? "warn" : "debug";
        this.d.log[level](
          { err: (e as Error).message, migrationId: p.result.migrationId, cmd: id, failures: p.failures, retryInMs: delay },
          "migration result not stored yet; kept and retried",
        );
      }
    }
    if (retryMs && this.pending.size) this.flushSoon(retryMs);
  }
}
