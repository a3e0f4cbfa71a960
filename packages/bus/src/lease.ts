import type { Logger } from "@drover/protocol";
import type { Bus } from "./bus.js";
import { JetStreamOpError } from "./errors.js";
import type { StreamReplicas, TypedKv } from "./jetstream.js";
import {
  leaseBucket,
  expire,
  initialRole,
  isLeading,
  LeaseHolder,
  leaseTiming,
  roleAfter,
  type LeaseAttempt,
  type LeaseRole,
  type LeaseTiming,
} from "./lease-logic.js";

export interface LeaderLeaseOptions {
  /** The KV key contended for: one lease per Drover cluster, so the cluster name. */
  key: string;
  holder: LeaseHolder;
  /** A lease not renewed for this long lapses on the server (the bucket's TTL). */
  ttlMs: number;
  /** Copies of the lease bucket: 3 on a three-node NATS cluster, 1 on a single server. */
  replicas: number;
  logger: Logger;
  /** Local clock (tests). */
  now?: () => number;
}

type LeaseKv = TypedKv<typeof LeaseHolder>;
/** The lease as read: its holder and revision, undefined when none holds it. */
type Held = Awaited<ReturnType<LeaseKv["entry"]>>;

/**
 * A leader lease in a replicated JetStream KV bucket. Acquire is create-if-absent, renewal is an update at
 * the revision last written, and the bucket's TTL removes a lease nobody renews, so a dead leader's lease
 * lapses. The entry's revision is the fencing token: it only grows. The decisions are `lease-logic.ts`'s.
 */
export class LeaderLease implements AsyncDisposable {
  private current: LeaseRole = initialRole;
  private readonly listeners = new Set<(role: LeaseRole) => void>();
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private running = false;
  private attempt: Promise<void> | undefined;
  private readonly now: () => number;

  private constructor(
    private readonly bus: Bus,
    private readonly kv: LeaseKv,
    private readonly opts: LeaderLeaseOptions,
    readonly timing: LeaseTiming,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Opens (creating if needed) the cluster's lease bucket (`leaseBucket(key)`) with this TTL and replicas. Call start() to contend. */
  static async open(bus: Bus, opts: LeaderLeaseOptions): Promise<LeaderLease> {
    const timing = leaseTiming(opts.ttlMs);
    LeaseHolder.parse(opts.holder);
    const kv = await bus.jetstream.kv(leaseBucket(opts.key), LeaseHolder, { ttlMs: opts.ttlMs, replicas: opts.replicas, history: 1 });
    return new LeaderLease(bus, kv, opts, timing);
  }

  /** The role now (a leader past its validity is already a follower here, even before its timer ran). */
  get role(): LeaseRole {
    return expire(this.current, this.now());
  }

  isLeading(): boolean {
    return isLeading(this.current, this.now());
  }

  /** The fencing token while leading, else undefined. */
  get revision(): number | undefined {
    const r = this.role;
    return r.kind === "leader" ? r.revision : undefined;
  }

  /** The lease bucket's replicas: which NATS server leads it and whether the others are caught up. */
  replicas(): Promise<StreamReplicas | undefined> {
    return this.bus.jetstream.streamReplicas(this.kv.stream);
  }

  /** Called on every change of role (leader ↔ follower, or a follower learning of another leader). Returns an unsubscribe. */
  onChange(listener: (role: LeaseRole) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts contending: one attempt now, then one every `timing.attemptEveryMs`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Makes one attempt now (acquire when following, renew when leading) and returns the role after it. */
  async tryOnce(): Promise<LeaseRole> {
    const sentAt = this.now();
    const before = this.role;
    const result = await this.contend(before);
    this.set(roleAfter(before, result, sentAt, this.now(), this.timing));
    return this.role;
  }

  /** Stops contending; a leader deletes its lease (at its revision) so another takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.attempt;
    const r = this.role;
    this.set(initialRole);
    if (r.kind !== "leader") return;
    await this.kv.delete(this.opts.key, { previousRevision: r.revision }).catch((err: unknown) => {
      this.opts.logger.warn({ err, key: this.opts.key }, "could not release the leader lease; it lapses after its TTL");
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.attempt = this.tryOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.logger.error({ err }, "leader lease attempt failed"))
        .finally(() => {
          this.attempt = undefined;
          if (this.running) this.schedule(this.timing.attemptEveryMs);
        });
    }, delayMs);
  }

  private async contend(role: LeaseRole): Promise<LeaseAttempt> {
    const { key, holder } = this.opts;
    try {
      const revision =
        role.kind === "leader" ? await this.kv.put(key, holder, { previousRevision: role.revision }) : await this.kv.create(key, holder);
      return { outcome: "held", revision };
    } catch (e) {
      if (!(e instanceof JetStreamOpError && e.revisionConflict)) return { outcome: "failed", error: String(e) };
    }
    const held = await this.holderAfterConflict(role);
    if (held?.value.id === holder.id) {
      // Our own write whose answer was lost (a node went mid-request): take it back by renewing at
      // its revision, which restarts its TTL from now. Holder ids are unique per scheduler.
      try {
        return { outcome: "held", revision: await this.kv.put(key, holder, { previousRevision: held.revision }) };
      } catch (e) {
        if (!(e instanceof JetStreamOpError && e.revisionConflict)) return { outcome: "failed", error: String(e) };
        return { outcome: "taken", holder: undefined, revision: undefined };
      }
    }
    return { outcome: "taken", holder: held?.value, revision: held?.revision };
  }

  /**
   * Who holds the lease after our write was refused. The refusal proves an entry newer than the one
   * we knew (a leader's renewal: past its revision; a create: one exists). A direct get may trail a
   * write, so a read that shows none or an older one came from a replica that has not applied it:
   * it is asked again for half an attempt period, then the last read stands.
   */
  private async holderAfterConflict(role: LeaseRole): Promise<Held> {
    const fresh = (e: Held) =>
      e !== undefined && (role.kind === "leader" ? e.revision > role.revision : e.revision >= (role.leaderRevision ?? 0));
    const until = performance.now() + this.timing.attemptEveryMs / 2;
    for (;;) {
      const held = await this.kv.entry(this.opts.key).catch(() => undefined);
      if (fresh(held) || performance.now() >= until) return held;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private set(next: LeaseRole): void {
    const prev = this.current;
    this.current = next;
    clearTimeout(this.expiryTimer);
    // Step down when the validity passes even if a renewal is still waiting for an answer.
    if (next.kind === "leader") this.expiryTimer = setTimeout(() => this.set(this.role), Math.max(0, next.validUntil - this.now()));
    if (sameRole(prev, next)) return;
    const log = this.opts.logger;
    if (next.kind === "leader" && prev.kind !== "leader")
      log.info({ key: this.opts.key, revision: next.revision }, "acquired the leader lease");
    if (prev.kind === "leader" && next.kind !== "leader")
      log.warn({ key: this.opts.key, leader: next.leader?.id }, "lost the leader lease");
    for (const l of this.listeners) l(next);
  }
}

/** A renewal (same holder, new revision) is no change of role. */
function sameRole(a: LeaseRole, b: LeaseRole): boolean {
  if (a.kind === "leader" || b.kind === "leader") return a.kind === b.kind;
  return a.leader?.id === b.leader?.id;
}
