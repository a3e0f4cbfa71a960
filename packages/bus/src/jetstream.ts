import type { z } from "zod";
import { TimeoutError, type NatsConnection, type QueuedIterator } from "@nats-io/nats-core";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import { decode, encode } from "./codec.js";
import { InvalidMessageError, JetStreamOpError } from "./errors.js";
import type { Logger } from "@drover/protocol";
import type { StatsCounter } from "./stats.js";

export interface StreamOptions {
  storage?: "file" | "memory";
  retention?: "limits" | "interest" | "workqueue";
  maxAgeMs?: number;
  maxMsgs?: number;
  maxBytes?: number;
  maxMsgsPerSubject?: number;
  /** Window in which a repeated message id is stored once (default 2 min, at most maxAgeMs). */
  duplicateWindowMs?: number;
  /** Replicas (1 on a single server). */
  replicas?: number;
  /** How long to wait for a NATS cluster that cannot place the replicas yet (default 60 s; see CLUSTER_SETTLE_MS). */
  settleMs?: number;
}

export interface KvOptions {
  /** Values kept per key (default 1). */
  history?: number;
  /** Entries older than this are removed (default: kept). */
  ttlMs?: number;
  storage?: "file" | "memory";
  /** Open only; fail if the bucket does not exist (default: create if missing). */
  mustExist?: boolean;
  /** Copies kept by a NATS cluster (default 1; 3 on a three-node cluster). */
  replicas?: number;
  /** How long to wait for a NATS cluster that cannot place the replicas yet (default 60 s; see CLUSTER_SETTLE_MS). */
  settleMs?: number;
}

/** A durable pull consumer's settings (see JetStreamHelpers.consume). */
export interface ConsumeOptions {
  /** Only messages on this subject (wildcards allowed). */
  filterSubject: string;
  /** Unacked this long, a message is delivered again (default 30 s). */
  ackWaitMs?: number;
  /** How long a message the handler asked to `retry` (or that threw) waits before it comes again (default 2 s). */
  retryDelayMs?: number;
}

/**
 * What the handler made of one message: `ack` (done: recorded, or nothing to do), `retry` (not now:
 * delivered again after the retry delay).
 */
export type ConsumeVerdict = "ack" | "retry";

export interface StreamMsgContext {
  subject: string;
  /** The message's sequence in the stream. */
  seq: number;
  /** How many times it has been delivered, this time included. */
  deliveries: number;
}

export interface StreamConsumer extends AsyncDisposable {
  /** Stops pulling; waits for the handler call under way. Unacked messages stay in the stream. */
  stop(): Promise<void>;
}

/** The leader and the other replicas (current = caught up with the leader). */
export interface StreamReplicas {
  leader: string | null;
  replicas: { name: string; current: boolean; offline: boolean }[];
}

export interface KvChange<T> {
  key: string;
  /** undefined for a delete or purge. */
  value: T | undefined;
  operation: "PUT" | "DEL" | "PURGE";
  revision: number;
}

export interface KvWatch extends AsyncDisposable {
  stop(): void;
  /** Resolves when the watch has stopped and its last handler call has returned. */
  readonly closed: Promise<void>;
}

/** Where NATS KV marks a deleted or purged key's message (not exported by @nats-io/kv). */
const KV_OPERATION_HEADER = "KV-Operation";

/** NATS KV's naming: a bucket's stream, and a key's subject in it (permissions name them too). */
export const kvStream = (bucket: string): string => `KV_${bucket}`;
export const kvSubject = (bucket: string, key: string): string => `$KV.${bucket}.${key}`;

/** Typed view of a KV bucket: values validated on put and on every read. */
export class TypedKv<S extends z.ZodType> {
  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly schema: S,
    private readonly log: Logger,
    private readonly counters: StatsCounter,
    private readonly manager: () => Promise<JetStreamManager>,
  ) {}

  /**
   * The current value, undefined when absent or deleted; throws InvalidMessageError if corrupt. Read
   * by a direct get, which any replica may answer: reads never go back in time, but right after a
   * write (or a node's restart) a follower may still answer with the value before it.
   */
  async get(key: string): Promise<z.output<S> | undefined> {
    return (await this.entry(key))?.value;
  }

  /** The current value with its revision (what a compare-and-set names), undefined when absent or deleted; read as `get` is. */
  async entry(key: string): Promise<{ value: z.output<S>; revision: number } | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    return { value: this.decoded(key, e.value), revision: e.revision };
  }

  /** Stores only if the key is absent (or deleted); returns the new revision. Refused: JetStreamOpError with `revisionConflict`. */
  async create(key: string, value: z.input<S>): Promise<number> {
    const data = encode(this.schema, value, this.where(key), "kv");
    try {
      return await this.kv.create(key, data);
    } catch (e) {
      throw new JetStreamOpError(`kv create ${this.where(key)}`, { cause: e });
    }
  }

  /** Validates, stores, returns the new revision. `previousRevision` makes it compare-and-set. */
  async put(key: string, value: z.input<S>, opts: { previousRevision?: number } = {}): Promise<number> {
    const data = encode(this.schema, value, this.where(key), "kv");
    try {
      return opts.previousRevision === undefined ? await this.kv.put(key, data) : await this.kv.update(key, data, opts.previousRevision);
    } catch (e) {
      throw new JetStreamOpError(`kv put ${this.where(key)}`, { cause: e });
    }
  }

  /** Deletes the key; with `previousRevision`, only if it is still at that revision. */
  async delete(key: string, opts: { previousRevision?: number } = {}): Promise<void> {
    try {
      await this.kv.delete(key, opts.previousRevision === undefined ? {} : { previousSeq: opts.previousRevision });
    } catch (e) {
      throw new JetStreamOpError(`kv delete ${this.where(key)}`, { cause: e });
    }
  }

  /**
   * Removes the key and leaves nothing of it in the bucket's stream. `delete` keeps a marker per key
   * (a watcher and `create` see it), so in a bucket whose keys are each written once (a move's id)
   * markers pile up for ever: the stream grows and listing its keys slows with every key it ever
   * held. For keys that no watcher follows and no compare-and-set names.
   */
  async remove(key: string): Promise<void> {
    try {
      const jsm = await this.manager();
      await jsm.streams.purge(this.stream, { filter: this.subjectOf(key) });
    } catch (e) {
      throw new JetStreamOpError(`kv remove ${this.where(key)}`, { cause: e });
    }
  }

  /**
   * Every present key under `filter` with its value, in key order, read from the bucket's stream
   * leader (its subjects, then each one's last message), where `get` may be answered by a replica
   * that has not applied the last writes yet. For a reader that must see every write acknowledged
   * before it: a scheduler taking over its cluster's journal. Each request is bounded by the
   * connection's request timeout. Throws InvalidMessageError on an invalid value.
   */
  async readFromLeader(filter = ">"): Promise<Array<{ key: string; value: z.output<S> }>> {
    const out: Array<{ key: string; value: z.output<S> }> = [];
    try {
      const jsm = await this.manager();
      const info = await jsm.streams.info(this.stream, { subjects_filter: this.subjectOf(filter) });
      for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
        const m = await jsm.streams.getMessage(this.stream, { last_by_subj: subject });
        const op = m?.header?.get(KV_OPERATION_HEADER);
        if (!m || op === "DEL" || op === "PURGE") continue;
        const key = subject.slice(this.subjectOf("").length);
        out.push({ key, value: this.decoded(key, m.data) });
      }
    } catch (e) {
      if (e instanceof InvalidMessageError) throw e;
      throw new JetStreamOpError(`kv read ${this.bucket} ${filter}`, { cause: e });
    }
    return out;
  }

  /**
   * Calls `handler` with the current value of every key, then with each change, in order.
   * Invalid values are logged, counted and skipped; a handler exception is logged.
   */
  async watch(handler: (c: KvChange<z.output<S>>) => void | Promise<void>, opts: { key?: string } = {}): Promise<KvWatch> {
    const it: QueuedIterator<KvWatchEntry> = await this.kv.watch(opts.key ? { key: opts.key } : {});
    const loop = (async () => {
      for await (const e of it) {
        let value: z.output<S> | undefined;
        if (e.operation === "PUT") {
          const d = decode(this.schema, e.value, this.where(e.key), "kv");
          if (!d.ok) {
            this.rejected(d.error);
            continue;
          }
          value = d.value;
        }
        this.counters.received++;
        try {
          await handler({ key: e.key, value, operation: e.operation, revision: e.revision });
        } catch (err) {
          this.counters.handlerErrors++;
          this.log.error({ err, bucket: this.bucket, key: e.key }, "kv watch handler failed; watch continues");
        }
      }
    })().catch((err: unknown) => this.log.error({ err, bucket: this.bucket }, "kv watch ended with an error"));
    const w: KvWatch = {
      stop: () => it.stop(),
      closed: loop,
      [Symbol.asyncDispose]: async () => {
        it.stop();
        await loop;
      },
    };
    return w;
  }

  private where(key: string): string {
    return `kv:${this.bucket}/${key}`;
  }

  /** The bucket's stream. */
  get stream(): string {
    return kvStream(this.bucket);
  }
  private subjectOf(key: string): string {
    return kvSubject(this.bucket, key);
  }

  /** A stored value, validated; an invalid one is counted, logged and thrown. */
  private decoded(key: string, data: Uint8Array): z.output<S> {
    const d = decode(this.schema, data, this.where(key), "kv");
    if (!d.ok) {
      this.rejected(d.error);
      throw d.error;
    }
    return d.value;
  }

  private rejected(err: InvalidMessageError): void {
    this.counters.countInvalid(err.subject);
    this.log.warn({ subject: err.subject, field: err.field, issues: err.issues }, `rejected invalid kv value: ${err.message}`);
  }
}

/** Streams and KV over the bus connection. Only JetStream API of nats-server 2.9 is used. */
export class JetStreamHelpers {
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly counters: StatsCounter,
    /** Counts and logs (rate-limited, as the bus does for subscriptions) an invalid message received. */
    private readonly rejected: (err: InvalidMessageError) => void,
  ) {}

  /** Creates the stream, or updates it to these subjects and limits; idempotent. */
  async ensureStream(name: string, subjects: string[], opts: StreamOptions = {}): Promise<StreamInfo> {
    const jsm = await this.manager();
    const maxAgeMs = opts.maxAgeMs ?? 0;
    // The server refuses a duplicate window longer than max age.
    const dupMs = opts.duplicateWindowMs ?? (maxAgeMs > 0 ? Math.min(DEFAULT_DUP_WINDOW_MS, maxAgeMs) : DEFAULT_DUP_WINDOW_MS);
    const cfg: Partial<StreamConfig> = {
      subjects,
      retention: opts.retention ? RETENTION[opts.retention] : RetentionPolicy.Limits,
      max_age: msToNanos(maxAgeMs),
      duplicate_window: msToNanos(dupMs),
      max_msgs: opts.maxMsgs ?? -1,
      max_bytes: opts.maxBytes ?? -1,
      max_msgs_per_subject: opts.maxMsgsPerSubject ?? -1,
      num_replicas: opts.replicas ?? 1,
      discard: DiscardPolicy.Old,
    };
    try {
      return await this.whileClusterSettles(`stream ${name}`, opts.settleMs, async () => {
        const current = await jsm.streams.info(name).catch((e: unknown) => {
          if (isStreamNotFound(e)) return undefined;
          throw e;
        });
        if (!current) {
          const storage = opts.storage === "memory" ? StorageType.Memory : StorageType.File;
          const info = await jsm.streams.add({ name, storage, ...cfg });
          this.log.info({ stream: name, subjects }, "stream created");
          return info;
        }
        // Storage type cannot change after creation; everything else here can.
        return await jsm.streams.update(name, { ...current.config, ...cfg });
      });
    } catch (e) {
      throw new JetStreamOpError(`ensure stream ${name}`, { cause: e });
    }
  }

  async deleteStream(name: string): Promise<boolean> {
    const jsm = await this.manager();
    try {
      return await jsm.streams.delete(name);
    } catch (e) {
      if (isStreamNotFound(e)) return false;
      throw new JetStreamOpError(`delete stream ${name}`, { cause: e });
    }
  }

  /** How many messages a stream holds (a KV bucket's: current values and deleted keys' markers); undefined if it does not exist. */
  async storedMessages(name: string): Promise<number | undefined> {
    const jsm = await this.manager();
    try {
      return (await jsm.streams.info(name)).state.messages;
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw new JetStreamOpError(`stream info ${name}`, { cause: e });
    }
  }

  /**
   * Where a durable consumer stands as the server has it: the last stream sequence acked with all
   * before it, and how many delivered messages wait for an ack. An ack is sent without waiting, so
   * a handler's "ack" is recorded a moment later; undefined if the consumer does not exist.
   */
  async consumerAcks(stream: string, durable: string): Promise<{ ackFloor: number; ackPending: number } | undefined> {
    const jsm = await this.manager();
    try {
      const info = await jsm.consumers.info(stream, durable);
      return { ackFloor: info.ack_floor.stream_seq, ackPending: info.num_ack_pending };
    } catch (e) {
      if (isStreamNotFound(e) || (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) return undefined;
      throw new JetStreamOpError(`consumer info ${stream}/${durable}`, { cause: e });
    }
  }

  /** Who keeps a stream on a cluster: its RAFT leader and each replica's state; undefined if it does not exist. */
  async streamReplicas(name: string): Promise<StreamReplicas | undefined> {
    const jsm = await this.manager();
    try {
      const info = await jsm.streams.info(name);
      const c = info.cluster;
      return {
        leader: c?.leader ?? null,
        replicas: (c?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, offline: r.offline ?? false })),
      };
    } catch (e) {
      if (isStreamNotFound(e)) return undefined;
      throw new JetStreamOpError(`stream info ${name}`, { cause: e });
    }
  }

  /** Publishes a validated message to a stream and waits for the server's ack; returns its sequence. */
  async publish<S extends z.ZodType>(subject: string, schema: S, msg: z.input<S>, opts: { msgId?: string } = {}): Promise<number> {
    const data = encode(schema, msg, subject, "publish");
    try {
      const ack = await jetstream(this.nc).publish(subject, data, opts.msgId ? { msgID: opts.msgId } : {});
      this.counters.published++;
      return ack.seq;
    } catch (e) {
      throw new JetStreamOpError(`jetstream publish on ${subject}`, { cause: e });
    }
  }

  /**
   * Reads a stream through a durable pull consumer (created, or updated to these settings), one
   * message at a time in order, each acked only once `handler` has said so. The consumer's place is
   * kept by the server: what arrived while this process was away or NATS restarted is delivered
   * when it reads again, and what it received but did not ack (it died first) comes again after
   * `ackWaitMs`. Invalid messages are logged, counted and terminated (never delivered again); a
   * handler exception is logged and the message retried.
   */
  async consume<S extends z.ZodType>(
    stream: string,
    durable: string,
    schema: S,
    handler: (msg: z.output<S>, ctx: StreamMsgContext) => ConsumeVerdict | Promise<ConsumeVerdict>,
    opts: ConsumeOptions,
  ): Promise<StreamConsumer> {
    const jsm = await this.manager();
    const retryMs = opts.retryDelayMs ?? 2000;
    const cfg = {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: opts.filterSubject,
      ack_wait: msToNanos(opts.ackWaitMs ?? 30_000),
      max_deliver: -1,
    };
    let messages: ConsumerMessages;
    try {
      const exists = await jsm.consumers.info(stream, durable).then(
        () => true,
        (e: unknown) => {
          if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound) return false;
          throw e;
        },
      );
      if (exists) await jsm.consumers.update(stream, durable, cfg);
      else await jsm.consumers.add(stream, { durable_name: durable, ...cfg });
      const consumer = await jetstream(this.nc).consumers.get(stream, durable);
      // After NATS comes back the client asks whether the consumer still exists, and while JetStream
      // is still starting it asks again after a jittered `expires` (30 s by default): results would
      // wait up to that long. 5 s pulls (heartbeats every 2.5 s) resume reading within seconds.
      messages = await consumer.consume({ max_messages: 64, expires: CONSUME_EXPIRES_MS });
    } catch (e) {
      throw new JetStreamOpError(`consume ${stream}/${durable}`, { cause: e });
    }
    const loop = (async () => {
      for await (const m of messages) {
        const d = decode(schema, m.data, m.subject, "receive");
        if (!d.ok) {
          this.rejected(d.error);
          m.term("invalid");
          continue;
        }
        this.counters.received++;
        let verdict: ConsumeVerdict;
        try {
          verdict = await handler(d.value, { subject: m.subject, seq: m.seq, deliveries: m.info.deliveryCount });
        } catch (err) {
          this.counters.handlerErrors++;
          this.log.error({ err, stream, subject: m.subject, seq: m.seq }, "stream handler failed; the message comes again");
          verdict = "retry";
        }
        if (verdict === "ack") m.ack();
        else m.nak(retryMs);
      }
    })().catch((err: unknown) => this.log.error({ err, stream, durable }, "stream consumer ended with an error"));
    const stop = async () => {
      await messages.close().catch(() => undefined);
      await loop;
    };
    return { stop, [Symbol.asyncDispose]: stop };
  }

  /** Opens (by default creating) a KV bucket whose values all follow `schema`. */
  async kv<S extends z.ZodType>(bucket: string, schema: S, opts: KvOptions = {}): Promise<TypedKv<S>> {
    const kvm = new Kvm(this.nc);
    const kvOpts = {
      history: opts.history ?? 1,
      ...(opts.ttlMs ? { ttl: opts.ttlMs } : {}),
      ...(opts.replicas ? { replicas: opts.replicas } : {}),
      storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
    };
    try {
      const kv = await this.whileClusterSettles(`kv bucket ${bucket}`, opts.settleMs, async () => {
        const kv = opts.mustExist ? await kvm.open(bucket, kvOpts) : await kvm.create(bucket, kvOpts);
        if (!opts.mustExist) return kv;
        // Bound without its config, a bucket reads through STREAM.MSG.GET, which the identities'
        // permissions do not grant; one that allows direct gets is read like a created one.
        const st = await kv.status();
        return st.streamInfo.config.allow_direct ? await kvm.open(bucket, { ...kvOpts, allow_direct: true }) : kv;
      });
      return new TypedKv(bucket, kv, schema, this.log, this.counters, () => this.manager());
    } catch (e) {
      throw new JetStreamOpError(`open kv bucket ${bucket}`, { cause: e });
    }
  }

  /**
   * Runs `op` again while the NATS cluster cannot serve it yet, for at most `settleMs`: no meta leader
   * or too few current peers for the replicas (both pass within seconds of a node starting or a leader
   * election), or a request that timed out (nats-server 2.9 answers neither of two clients creating the
   * same stream at once, nats-io/nats-server#3677: two schedulers started together; the jitter keeps
   * them from colliding again). Any other error, or the last one at the deadline, is thrown at once.
   */
  private async whileClusterSettles<T>(what: string, settleMs = CLUSTER_SETTLE_MS, op: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + settleMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (!isClusterSettling(e) || Date.now() >= deadline) throw e;
        if (attempt === 1) this.log.warn({ err: e, what, settleMs }, "NATS cluster cannot place it yet; trying again");
        await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000) + Math.random() * 500));
      }
    }
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= jetstreamManager(this.nc).catch((e: unknown) => {
      this.jsm = undefined;
      throw new JetStreamOpError("JetStream is not available", { cause: e });
    });
    return this.jsm;
  }
}

const DEFAULT_DUP_WINDOW_MS = 120_000;

/** How long a stream or bucket waits for its cluster to settle: a meta leader election takes a few seconds. */
export const CLUSTER_SETTLE_MS = 60_000;
/** A durable consumer's pull lifetime, which also paces its checks after a reconnect (see consume). */
const CONSUME_EXPIRES_MS = 5_000;

/** JetStream API errors a cluster gives while it elects or catches up (server's JSClusterNoPeers, JSClusterNotAvail). */
const SETTLING_CODES: ReadonlySet<number> = new Set([10005, 10008]);

function isClusterSettling(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return SETTLING_CODES.has(e.code);
  // A request to the JetStream API goes unanswered while the meta group has no leader.
  return e instanceof TimeoutError || (e instanceof Error && e.cause instanceof TimeoutError);
}

const RETENTION = {
  limits: RetentionPolicy.Limits,
  interest: RetentionPolicy.Interest,
  workqueue: RetentionPolicy.Workqueue,
} as const;

function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;
}

function msToNanos(ms: number): number {
  return ms * 1_000_000;
}
