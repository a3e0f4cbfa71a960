import type { z } from "zod";
import { connect } from "@nats-io/transport-node";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  headers as natsHeaders,
  PermissionViolationError,
  RequestError,
  TimeoutError,
  type Msg,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from "@nats-io/nats-core";
import { decode, encode } from "./codec.js";
import {
  BusClosedError,
  BusConnectError,
  BusError,
  InvalidMessageError,
  NoRespondersError,
  PublishFailedError,
  RemoteError,
  RequestFailedError,
  RequestTimeoutError,
  SubscribeDeniedError,
} from "./errors.js";
import { JetStreamHelpers } from "./jetstream.js";
import { DropLog, type Logger } from "@drover/protocol";
import { natsOptions, resolveOptions, type BusOptions, type ResolvedBusOptions } from "./options.js";
import { StatsCounter, type BusStats } from "./stats.js";
import { toBusStatus, type StatusListener } from "./status.js";

export interface MsgContext {
  subject: string;
  reply?: string;
}

export type Handler<T> = (msg: T, ctx: MsgContext) => void | Promise<void>;

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /**
   * subscribe only: a payload larger than this is rejected before it is parsed (counted and
   * logged as invalid, field `(size)`), so an oversized message costs no JSON parse.
   */
  maxBytes?: number;
}

export interface RequestOptions {
  /** Default: the bus's requestTimeoutMs. */
  timeoutMs?: number;
}

/** A live subscription. Survives reconnects; ends on unsubscribe/drain or when the bus closes. */
export interface Subscription extends AsyncDisposable {
  readonly subject: string;
  unsubscribe(): void;
  /** Stops receiving, waits for messages already received (and their handlers) to finish. */
  drain(): Promise<void>;
  /** Resolves once the receive loop and every handler it started have finished. */
  readonly closed: Promise<void>;
}

export interface ConnectionInfo {
  connected: boolean;
  /** host:port of the server in use. */
  server: string | null;
  serverName: string | null;
  /** The NATS cluster's name; null for a single server. */
  cluster: string | null;
  /** Every server the connection may use: the configured ones and those the cluster told it of. */
  knownServers: string[];
}

/** Headers carrying a served request's failure; the body is then empty. */
export const ErrorHeader = {
  Code: "Drover-Error-Code",
  Message: "Drover-Error",
  Field: "Drover-Error-Field",
} as const;

export const RemoteErrorCode = {
  InvalidRequest: "invalid-request",
  InvalidReply: "invalid-reply",
  HandlerFailed: "handler-failed",
} as const;

/**
 * The one NATS connection of a process. Every message in or out is validated against a zod schema:
 * nothing invalid is sent, and nothing invalid received reaches a handler (it is logged and counted).
 */
export class Bus implements AsyncDisposable {
  private readonly counters = new StatsCounter();
  private readonly listeners = new Set<StatusListener>();
  private readonly subs = new Set<Subscription>();
  private readonly log: Logger;
  private readonly invalidLog: DropLog;
  private readonly invalidLogTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private up = true;
  private js: JetStreamHelpers | undefined;

  private constructor(
    readonly nc: NatsConnection,
    readonly options: ResolvedBusOptions,
  ) {
    this.log = options.logger;
    const every = options.invalidLogIntervalMs;
    this.invalidLog = new DropLog(this.log, every, "invalid messages");
    // With no interval every invalid message is written at once: nothing is ever pending.
    if (every > 0) {
      this.invalidLogTimer = setInterval(() => this.invalidLog.flush(Date.now()), every);
      this.invalidLogTimer.unref();
    }
    void this.watchStatus();
  }

  static async connect(opts: BusOptions): Promise<Bus> {
    const o = resolveOptions(opts);
    let nc: NatsConnection;
    try {
      nc = await connect(await natsOptions(o));
    } catch (e) {
      if (e instanceof BusError) throw e;
      throw new BusConnectError(o.servers, { cause: e });
    }
    o.logger.info({ server: nc.getServer(), name: o.name }, "bus connected");
    return new Bus(nc, o);
  }

  /** False between a disconnect and the next reconnect (publishes are buffered meanwhile). */
  get isConnected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  get isClosed(): boolean {
    return this.nc.isClosed() || this.closing !== undefined;
  }

  /** Validates and sends; throws InvalidMessageError (naming the field) and sends nothing if invalid. */
  publish<S extends z.ZodType>(subject: string, schema: S, msg: z.input<S>): void {
    this.assertOpen("publish");
    const data = encode(schema, msg, subject, "publish");
    try {
      this.nc.publish(subject, data);
    } catch (e) {
      // e.g. larger than the server's max_payload, or an invalid subject
      throw new PublishFailedError(subject, data.length, { cause: e });
    }
    this.counters.published++;
  }

  /**
   * Calls `handler` with each valid message, one at a time in arrival order. Invalid messages are
   * logged, counted and dropped; a handler's exception is logged and the subscription goes on.
   */
  subscribe<S extends z.ZodType>(subject: string, schema: S, handler: Handler<z.output<S>>, opts: SubscribeOptions = {}): Subscription {
    this.assertOpen("subscribe");
    const sub = this.nc.subscribe(subject, opts.queue ? { queue: opts.queue } : {});
    return this.track(
      sub,
      subject,
      async (m) => {
        if (opts.maxBytes !== undefined && m.data.length > opts.maxBytes) {
          const message = `payload of ${m.data.length} bytes exceeds the limit of ${opts.maxBytes}`;
          return this.rejected(new InvalidMessageError(m.subject, "receive", [{ field: "(size)", message }]));
        }
        const d = decode(schema, m.data, m.subject, "receive");
        if (!d.ok) return this.rejected(d.error);
        this.counters.received++;
        await this.runHandler(subject, m.subject, () => handler(d.value, ctxOf(m)));
      },
      "serial",
    );
  }

  /** Sends a validated request and returns the validated reply. Throws typed errors only. */
  async request<Req extends z.ZodType, Res extends z.ZodType>(
    subject: string,
    reqSchema: Req,
    req: z.input<Req>,
    resSchema: Res,
    opts: RequestOptions = {},
  ): Promise<z.output<Res>> {
    this.assertOpen("request");
    const data = encode(reqSchema, req, subject, "request");
    const timeoutMs = opts.timeoutMs ?? this.options.requestTimeoutMs;
    let reply: Msg;
    try {
      this.counters.published++;
      reply = await this.nc.request(subject, data, { timeout: timeoutMs });
    } catch (e) {
      throw this.requestError(subject, timeoutMs, e);
    }
    const code = reply.headers?.get(ErrorHeader.Code);
    if (code) {
      const field = reply.headers?.get(ErrorHeader.Field);
      throw new RemoteError(subject, code, reply.headers?.get(ErrorHeader.Message) ?? "", field || undefined);
    }
    const d = decode(resSchema, reply.data, subject, "reply");
    if (!d.ok) {
      this.rejected(d.error);
      throw d.error;
    }
    this.counters.received++;
    return d.value;
  }

  /**
   * Answers requests on `subject`. Requests are handled concurrently. An invalid request gets an
   * error reply naming the field; a handler failure or an invalid result gets an error reply too.
   */
  serve<Req extends z.ZodType, Res extends z.ZodType>(
    subject: string,
    reqSchema: Req,
    resSchema: Res,
    handler: (req: z.output<Req>, ctx: MsgContext) => Promise<z.input<Res>> | z.input<Res>,
    opts: SubscribeOptions = {},
  ): Subscription {
    this.assertOpen("serve");
    const sub = this.nc.subscribe(subject, opts.queue ? { queue: opts.queue } : {});
    return this.track(
      sub,
      subject,
      async (m) => {
        const d = decode(reqSchema, m.data, m.subject, "request");
        if (!d.ok) {
          this.rejected(d.error);
          return this.replyError(m, RemoteErrorCode.InvalidRequest, d.error.message, d.error.field);
        }
        this.counters.received++;
        let result: z.input<Res>;
        try {
          result = await handler(d.value, ctxOf(m));
        } catch (e) {
          this.counters.handlerErrors++;
          this.log.error({ err: e, subject: m.subject, sub: subject }, "request handler failed");
          return this.replyError(m, RemoteErrorCode.HandlerFailed, (e as Error)?.message ?? String(e));
        }
        let data: Uint8Array;
        try {
          data = encode(resSchema, result, m.subject, "reply");
        } catch (e) {
          const err = e as InvalidMessageError;
          this.counters.handlerErrors++;
          this.log.error({ err, subject: m.subject, field: err.field }, "request handler returned an invalid reply");
          return this.replyError(m, RemoteErrorCode.InvalidReply, err.message, err.field);
        }
        this.respond(m, data);
      },
      "concurrent",
    );
  }

  stats(): BusStats {
    return this.counters.snapshot();
  }

  /** Connection events (disconnect, reconnect, ...) for health reporting. Returns an unsubscribe. */
  onStatus(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The NATS side of health: the server this connection uses, its cluster, and every server the connection knows. */
  connectionInfo(): ConnectionInfo {
    const info = this.nc.info;
    return {
      connected: this.isConnected,
      server: this.nc.isClosed() ? null : this.nc.getServer(),
      serverName: info?.server_name ?? null,
      cluster: info?.cluster ?? null,
      knownServers: this.nc.getServers().map((s) => s.listen),
    };
  }

  /** JetStream streams and typed KV buckets (created lazily on first use). */
  get jetstream(): JetStreamHelpers {
    this.js ??= new JetStreamHelpers(this.nc, this.log, this.counters, (e) => this.rejected(e));
    return this.js;
  }

  /**
   * Whether this identity may subscribe to `subject`: subscribes, waits for the server to have
   * judged it (a round trip; a refusal comes before the answer), and unsubscribes. Throws
   * SubscribeDeniedError, with `hint` (what to check), when the server refused it.
   */
  async assertMaySubscribe(subject: string, hint = ""): Promise<void> {
    let refused: PermissionViolationError | undefined;
    const sub = this.nc.subscribe(subject, {
      callback: (err) => {
        if (err instanceof PermissionViolationError) refused = err;
      },
    });
    try {
      await this.nc.flush();
    } finally {
      if (!sub.isClosed()) sub.unsubscribe();
    }
    if (refused) throw new SubscribeDeniedError(subject, hint, { cause: refused });
  }

  /** Round trip to the server: proves the connection works end to end. */
  async flush(): Promise<void> {
    await this.nc.flush();
  }

  /** Finishes in-flight messages and handlers, flushes what was published, then closes. */
  async drain(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.invalidLogTimer);
      await Promise.allSettled([...this.subs].map((s) => s.drain()));
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    })();
    await this.closing;
  }

  /** Closes at once; messages not yet flushed are lost. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.invalidLogTimer);
      // Not waiting for running handlers: a stuck one must not keep the process from closing.
      for (const s of this.subs) s.unsubscribe();
      await this.nc.close();
    })();
    await this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.drain();
  }

  private assertOpen(op: string): void {
    if (this.isClosed) throw new BusClosedError(op);
  }

  /** Counted always; logged at once on a quiet subject, then as counts at most once per interval (a flood stays a few lines). */
  private rejected(err: InvalidMessageError): void {
    this.counters.countInvalid(err.subject);
    const issue = err.issues[0]?.message;
    this.invalidLog.note(err.subject, err.field, Date.now(), { field: err.field, direction: err.direction, issue });
  }

  private async runHandler(sub: string, subject: string, fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.counters.handlerErrors++;
      this.log.error({ err: e, subject, sub }, "message handler failed; subscription continues");
    }
  }

  private replyError(m: Msg, code: string, message: string, field?: string): void {
    const h = natsHeaders();
    h.set(ErrorHeader.Code, code);
    // Header values are one line; a multi-line message would corrupt the protocol.
    h.set(ErrorHeader.Message, message.replace(/[\r\n]+/g, " ").slice(0, 1000));
    if (field) h.set(ErrorHeader.Field, field);
    this.respond(m, undefined, h);
  }

  private respond(m: Msg, data?: Uint8Array, h?: ReturnType<typeof natsHeaders>): void {
    if (!m.reply) {
      this.log.debug({ subject: m.subject }, "request without reply subject; nothing to answer");
      return;
    }
    if (this.nc.isClosed()) return;
    this.nc.publish(m.reply, data ?? new Uint8Array(), h ? { headers: h } : undefined);
    this.counters.published++;
  }

  private requestError(subject: string, timeoutMs: number, e: unknown): Error {
    if (e instanceof TimeoutError) return new RequestTimeoutError(subject, timeoutMs, { cause: e });
    if (e instanceof RequestError && e.isNoResponders()) return new NoRespondersError(subject, { cause: e });
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError || this.nc.isClosed()) {
      return new BusClosedError("request", { cause: e });
    }
    return new RequestFailedError(subject, { cause: e });
  }

  /** One receive loop per subscription: serial awaits each message, concurrent only tracks them. */
  private track(sub: NatsSubscription, subject: string, onMsg: (m: Msg) => Promise<void>, mode: "serial" | "concurrent"): Subscription {
    const inflight = new Set<Promise<void>>();
    const loop = (async () => {
      try {
        for await (const m of sub) {
          // onMsg never rejects by design; the catch is a last guard against a bus bug.
          const p = onMsg(m).catch((e: unknown) => this.log.error({ err: e, subject }, "bus dispatch failed"));
          if (mode === "serial") await p;
          else {
            inflight.add(p);
            void p.finally(() => inflight.delete(p));
          }
        }
      } catch (e) {
        this.log.error({ err: e, subject }, "subscription ended with an error");
      }
      await Promise.allSettled([...inflight]);
    })();
    const handle: Subscription = {
      subject,
      closed: loop,
      unsubscribe: () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
      drain: async () => {
        if (!sub.isClosed() && !sub.isDraining() && !this.nc.isClosed()) await sub.drain().catch(() => sub.unsubscribe());
        await loop;
      },
      [Symbol.asyncDispose]: () => handle.drain(),
    };
    this.subs.add(handle);
    void loop.finally(() => this.subs.delete(handle));
    void sub.closed.then((err) => {
      if (err) this.log.error({ err, subject }, "subscription closed by the server");
    });
    return handle;
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        const st = toBusStatus(s);
        if (!st) continue;
        if (st.type === "disconnect" || st.type === "reconnecting") this.up = false;
        if (st.type === "reconnect") this.up = true;
        const level = st.type === "reconnect" ? "info" : st.type === "close" ? "debug" : "warn";
        this.log[level](
          { status: st.type, server: st.server, err: st.error, subject: st.subject, operation: st.operation },
          `bus ${st.type}`,
        );
        for (const l of this.listeners) {
          try {
            l(st);
          } catch (e) {
            this.log.error({ err: e }, "status listener failed");
          }
        }
      }
    } catch (e) {
      this.log.error({ err: e }, "status watcher ended");
    }
  }
}

function ctxOf(m: Msg): MsgContext {
  return m.reply ? { subject: m.subject, reply: m.reply } : { subject: m.subject };
}
