import { z } from "zod";

// One bucket per Drover cluster, not one shared: a scheduler's identity may use the JetStream API of
// its own cluster's buckets only (a stream's API cannot be confined to some of its keys), and each
// cluster's lease keeps its own TTL.
/** The KV bucket of a Drover cluster's leader lease (key = the cluster name). */
export const leaseBucket = (cluster: string): string => `drover-leader-${cluster}`;
/** The KV bucket of a cluster's journal (moves in flight, open drains, ...: `scheduler/src/journal.ts`), so a new leader knows them. */
export const journalBucket = (cluster: string): string => `drover-journal-${cluster}`;

/** Who holds a lease, as stored in it: followers name the leader (and where its API answers) from this. */
export const LeaseHolder = z.object({
  id: z.string().min(1).max(128),
  /** Where the holder's HTTP API answers, for followers to point callers at. */
  apiUrl: z.string().max(2048).optional(),
});
export type LeaseHolder = z.output<typeof LeaseHolder>;

export interface LeaseTiming {
  ttlMs: number;
  /** How often the leader renews and a follower tries to acquire. */
  attemptEveryMs: number;
  /** Taken off the TTL so the leader stops before the server could hand the lease to another (clock rates, acting time). */
  marginMs: number;
}

/** The leader renews three times per TTL (two renewals may fail before it must step down); followers poll as often. */
export function leaseTiming(ttlMs: number): LeaseTiming {
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new RangeError(`lease ttlMs must be an integer of at least 1000, got ${ttlMs}`);
  return { ttlMs, attemptEveryMs: Math.floor(ttlMs / 3), marginMs: Math.floor(ttlMs / 10) };
}

export type LeaseRole =
  | { kind: "follower"; leader: LeaseHolder | undefined; leaderRevision: number | undefined }
  | {
      kind: "leader";
      /** The KV revision of the lease entry: the fencing token, larger for every new acquisition and renewal. */
      revision: number;
      /** Local clock time after which this holder no longer counts as leader unless a renewal succeeded. */
      validUntil: number;
    };

/** What one acquire (create-if-absent) or renew (update at revision) attempt got from the server. */
export type LeaseAttempt =
  | { outcome: "held"; revision: number }
  /** Someone else holds the lease, or it moved past the revision we renewed at. */
  | { outcome: "taken"; holder: LeaseHolder | undefined; revision: number | undefined }
  /** No answer (server unreachable, no JetStream leader): nothing is known. */
  | { outcome: "failed"; error: string };

export const initialRole: LeaseRole = { kind: "follower", leader: undefined, leaderRevision: undefined };

/**
 * The role after an attempt sent at `sentAt` (local clock). A held lease counts from when the request was
 * sent, not answered: the server's expiry runs from its own later stamp, so the holder stops first.
 */
export function roleAfter(prev: LeaseRole, attempt: LeaseAttempt, sentAt: number, now: number, timing: LeaseTiming): LeaseRole {
  switch (attempt.outcome) {
    case "held":
      return { kind: "leader", revision: attempt.revision, validUntil: sentAt + timing.ttlMs - timing.marginMs };
    case "taken":
      return { kind: "follower", leader: attempt.holder, leaderRevision: attempt.revision };
    case "failed":
      return expire(prev, now);
  }
}

/** A leader whose validity has passed is a follower that knows no leader. */
export function expire(role: LeaseRole, now: number): LeaseRole {
  if (role.kind === "leader" && now >= role.validUntil) return initialRole;
  return role;
}

export function isLeading(role: LeaseRole, now: number): boolean {
  return role.kind === "leader" && now < role.validUntil;
}
