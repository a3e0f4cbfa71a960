// Webhooks: what an operator wants to hear about without watching (a drain done or blocked, a failed
// migration, a host that did not wake, a plan waiting for approval) is POSTed as JSON to the receivers
// in `webhooks.receivers`. `emit` only queues: delivery runs on its own, off the planning path, one
// delivery at a time per receiver, retried with doubling back-off; a queue that is full drops the new
// event. Every attempt is logged by the receiver's origin and path (never its query, user info or
// secret); a delivery that gave up is recorded in the history (`kind=webhook`).
import { createHmac, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { DroverError, cannotRead, isPlainHttpOffMachine, type Logger } from "@drover/protocol";
import type { Clock } from "./clock.js";
import type { SchedulerConfig } from "./config.js";
import type { Metrics } from "./metrics.js";
import type { WebhookEventKind } from "./webhook-events.js";

export { WebhookEventKinds, type WebhookEventKind } from "./webhook-events.js";

/** One notification; `id` is what it is about (maintenance, migration, power action or plan id). */
export interface WebhookEvent {
  event: WebhookEventKind;
  id: string;
  summary: string;
  host?: string;
  vm?: string;
}

/** How a service hands an event to the webhooks (queued; never blocks or throws). */
export type Notify = (e: WebhookEvent) => void;

/** A delivery that gave up, for the history. */
export interface WebhookFailure {
  atMs: number;
  /** The receiver as logged: origin and path. */
  receiver: string;
  event: WebhookEventKind;
  eventId: string;
  attempts: number;
  error: string;
}

export class WebhookError extends DroverError {
  override readonly name = "WebhookError";
  readonly code = "webhook-secret-unreadable";
}

/** The signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body with the receiver's secret. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A receiver's URL as it may be logged: no user info, no query (tokens live there), no fragment. */
export function receiverLabel(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

type WebhooksConfig = SchedulerConfig["webhooks"];

/** Allowed by the config only with a receiver's `insecure` (config.ts); said at every start, and by --check. */
export function warnOfPlainReceivers(config: WebhooksConfig, log: Logger): void {
  for (const [i, r] of config.receivers.entries())
    if (isPlainHttpOffMachine(r.url))
      log.warn(
        { receiver: receiverLabel(r.url) },
        `webhooks.receivers.${i}.insecure: events are POSTed over plain HTTP to another machine, in clear`,
      );
}

/**
 * Each receiver's HMAC secret (null without `secretFile`), in receiver order. A missing or empty
 * file throws, naming the key and the file, never the content.
 */
export async function readReceiverSecrets(config: WebhooksConfig): Promise<(string | null)[]> {
  const secrets: (string | null)[] = [];
  for (const [i, r] of config.receivers.entries()) {
    if (r.secretFile === undefined) {
      secrets.push(null);
      continue;
    }
    const secret = (
      await readFile(r.secretFile, "utf8").catch((e: unknown) => {
        throw new WebhookError(`webhooks.receivers.${i}.secretFile: ${cannotRead(r.secretFile!, e)}`, { cause: e });
      })
    ).trim();
    if (secret === "") throw new WebhookError(`webhooks.receivers.${i}.secretFile: ${r.secretFile} is empty`);
    secrets.push(secret);
  }
  return secrets;
}

interface Delivery {
  deliveryId: string;
  event: WebhookEvent;
  body: string;
}

class Receiver {
  readonly queue: Delivery[] = [];
  running: Promise<void> | null = null;
  constructor(
    readonly url: string,
    readonly label: string,
    readonly events: ReadonlySet<WebhookEventKind>,
    readonly secret: string | null,
  ) {}
}

export interface WebhooksDeps {
  config: WebhooksConfig;
  cluster: string;
  clock: Clock;
  log: Logger;
  metrics: Pick<Metrics, "webhookDeliveries">;
  /** Records a delivery that gave up (the store's history); a failure to record is logged. */
  recordFailure(f: WebhookFailure): void;
}

export class Webhooks {
  private receivers: Receiver[] = [];
  private stopped = false;
  /** Pending back-off sleeps, ended early by stop(). */
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; done: () => void }>();

  private constructor(private readonly d: WebhooksDeps) {}

  /** Reads every receiver's secret file now (`readReceiverSecrets`): a bad one fails the start. */
  static async create(d: WebhooksDeps): Promise<Webhooks> {
    const w = new Webhooks(d);
    const secrets = await readReceiverSecrets(d.config);
    warnOfPlainReceivers(d.config, d.log);
    for (const [i, r] of d.config.receivers.entries()) {
      const secret = secrets[i] ?? null;
      w.receivers.push(new Receiver(r.url, receiverLabel(r.url), new Set(r.events), secret));
    }
    return w;
  }

  /** Events queued and not yet delivered or given up, over all receivers. */
  get queued(): number {
    return this.receivers.reduce((n, r) => n + r.queue.length + (r.running ? 1 : 0), 0);
  }

  /** Queues `e` for every receiver that wants it; returns at once. */
  emit(e: WebhookEvent): void {
    if (this.stopped) return;
    const atMs = this.d.clock.now();
    for (const r of this.receivers) {
      if (!r.events.has(e.event)) continue;
      const deliveryId = randomUUID();
      if (r.queue.length >= this.d.config.queueSize) {
        this.d.log.warn({ receiver: r.label, event: e.event, id: e.id, delivery: deliveryId }, "webhook queue full: event dropped");
        this.d.metrics.webhookDeliveries.inc({ event: e.event, outcome: "dropped" });
        this.record({
          atMs,
          receiver: r.label,
          event: e.event,
          eventId: e.id,
          attempts: 0,
          error: `queue full (${this.d.config.queueSize})`,
        });
        continue;
      }
      const body = JSON.stringify({ ...e, cluster: this.d.cluster, atMs, deliveryId });
      r.queue.push({ deliveryId, event: e, body });
      r.running ??= this.pump(r).finally(() => (r.running = null));
    }
  }

  /** Stops retrying and waits for attempts in flight (each bounded by `timeoutMs`); what is queued is dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.done();
    }
    await Promise.all(this.receivers.map((r) => r.running));
  }

  private async pump(r: Receiver): Promise<void> {
    for (let next = r.queue.shift(); next && !this.stopped; next = r.queue.shift()) await this.deliver(r, next);
    r.queue.length = 0;
  }

  private async deliver(r: Receiver, dl: Delivery): Promise<void> {
    const { config, log, metrics } = this.d;
    const what = { receiver: r.label, event: dl.event.event, id: dl.event.id, delivery: dl.deliveryId };
    let error = "";
    let attempt = 0;
    while (attempt < config.attempts && !this.stopped) {
      attempt++;
      error = await this.post(r, dl);
      if (error === "") {
        log.info({ ...what, attempt }, "webhook delivered");
        metrics.webhookDeliveries.inc({ event: dl.event.event, outcome: "delivered" });
        return;
      }
      log.warn({ ...what, attempt, of: config.attempts, error }, "webhook attempt failed");
      if (attempt < config.attempts) await this.sleep(Math.min(config.maxBackoffMs, config.backoffMs * 2 ** (attempt - 1)));
    }
    metrics.webhookDeliveries.inc({ event: dl.event.event, outcome: "failed" });
    this.record({ atMs: this.d.clock.now(), receiver: r.label, event: dl.event.event, eventId: dl.event.id, attempts: attempt, error });
  }

  /** One POST; "" when the receiver answered 2xx, else what went wrong. */
  private async post(r: Receiver, dl: Delivery): Promise<string> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "drover-scheduler",
      "x-drover-event": dl.event.event,
      "x-drover-delivery": dl.deliveryId,
    };
    if (r.secret !== null) headers["x-drover-signature"] = webhookSignature(r.secret, dl.body);
    try {
      const res = await fetch(r.url, { method: "POST", headers, body: dl.body, signal: AbortSignal.timeout(this.d.config.timeoutMs) });
      await res.body?.cancel().catch(() => undefined);
      return res.ok ? "" : `HTTP ${res.status}`;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      return err.name === "TimeoutError" ? `no answer within ${this.d.config.timeoutMs} ms` : (err.cause?.code ?? err.message);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const s = { timer: setTimeout(() => (this.sleeps.delete(s), resolve()), ms), done: resolve };
      s.timer.unref();
      this.sleeps.add(s);
    });
  }

  private record(f: WebhookFailure): void {
    try {
      this.d.recordFailure(f);
    } catch (e) {
      this.d.log.error({ err: e, receiver: f.receiver, event: f.event }, "webhook failure not recorded");
    }
  }
}
