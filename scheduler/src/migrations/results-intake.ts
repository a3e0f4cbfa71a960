// Migration results must survive a NATS restart, so agents store them in a JetStream stream
// (protocol's `streams.migrationResults`) and the leading scheduler reads it through one durable
// consumer: a result published while this scheduler was cut off, or restarting, is delivered when
// it reads again, and it is acked only after the follow-up recorded it (a crash in between means a
// redelivery, which the store sees is already recorded). Only the leader reads: a follower would
// take results it cannot act on.
import type { Bus, ConsumeVerdict, StreamConsumer } from "@drover/bus";
import { MigrationResult, streams, subjects, type Logger } from "@drover/protocol";

/** Results older than this are gone from the stream: a move still open by then is settled by status asks and reports. */
export const RESULTS_MAX_AGE_MS = 24 * 3_600_000;
/** A result retried within this window (its ack was lost) is stored once; later repeats are judged by the store. */
const DUPLICATE_WINDOW_MS = 3_600_000;
const MAX_BYTES = 64 * 1024 * 1024;
const RETRY_START_MS = 2000;

/**
 * Creates the stream (or brings it to these limits). Done at start, before any move can be sent, so
 * no result is published before the stream exists to keep it.
 */
export async function ensureResultsStream(bus: Bus, cluster: string, replicas: number): Promise<void> {
  await bus.jetstream.ensureStream(streams.migrationResults(cluster), [subjects.allMigrationResults(cluster)], {
    storage: "file",
    replicas,
    maxAgeMs: RESULTS_MAX_AGE_MS,
    maxBytes: MAX_BYTES,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
  });
}

export interface ResultsIntakeDeps {
  bus: Bus;
  cluster: string;
  /** Stream replicas: 1 on one NATS server, 3 on a cluster. */
  replicas: number;
  log: Logger;
  accept: (r: MigrationResult, subject: string) => ConsumeVerdict;
}

export class ResultsIntake {
  private consumer: StreamConsumer | undefined;
  private wanted = false;
  private opening: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly d: ResultsIntakeDeps) {}

  get reading(): boolean {
    return this.consumer !== undefined;
  }

  /** Starts reading (on becoming leader); retried every few seconds while NATS or JetStream is not there. */
  start(): void {
    this.wanted = true;
    this.opening ??= this.open().finally(() => (this.opening = undefined));
  }

  /** Stops reading (lost the lease, or stopping); what is not acked stays for whoever leads next. */
  async stop(): Promise<void> {
    this.wanted = false;
    clearTimeout(this.retry);
    await this.opening;
    if (this.wanted) return; // started again meanwhile (leading again): keep reading
    const c = this.consumer;
    this.consumer = undefined;
    await c?.stop();
  }

  private async open(): Promise<void> {
    if (!this.wanted || this.consumer) return;
    const { bus, cluster, replicas, log } = this.d;
    const stream = streams.migrationResults(cluster);
    try {
      await ensureResultsStream(bus, cluster, replicas);
      const consumer = await bus.jetstream.consume(
        stream,
        streams.migrationResultsConsumer,
        MigrationResult,
        (r, ctx) => this.d.accept(r, ctx.subject),
        {
          filterSubject: subjects.allMigrationResults(cluster),
        },
      );
      if (!this.wanted) return void (await consumer.stop());
      this.consumer = consumer;
      log.info({ stream }, "reading migration results");
    } catch (e) {
      log.warn({ err: (e as Error).message, stream }, `migration results stream not readable; trying again in ${RETRY_START_MS} ms`);
      if (!this.wanted) return;
      this.retry = setTimeout(() => this.start(), RETRY_START_MS);
      this.retry.unref();
    }
  }
}
