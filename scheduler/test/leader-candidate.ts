// A scheduler contending for the leader lease on a test NATS cluster, with an admin token for its API.
import type { SchedulerConfigInput } from "../src/config.js";
import { TokenBook } from "../src/api/tokens.js";
import { Scheduler, type SchedulerDeps } from "../src/scheduler.js";
import { config } from "./helpers.js";

export const LEASE_TTL_MS = 3000;

export async function leaderCandidate(
  urls: string[],
  id: string,
  dir: string,
  o: { ttlMs?: number; over?: Partial<SchedulerConfigInput>; deps?: SchedulerDeps } = {},
) {
  const cfg = config(urls[0]!, dir, {
    nats: { servers: urls, requestTimeoutMs: 2000 },
    leadership: { id, ttlMs: o.ttlMs ?? LEASE_TTL_MS },
    ...o.over,
  });
  const s = Scheduler.create(cfg, { tickMs: 200, ...o.deps });
  const token = new TokenBook(s.store, Date.now).create("test-admin", "admin", "test").token;
  await s.start();
  const call = (path: string, body?: unknown) =>
    fetch(`${s.api.address}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { s, call, token };
}
