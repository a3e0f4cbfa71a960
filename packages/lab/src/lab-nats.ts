// What the lab's status says about its NATS cluster and its schedulers' leadership: each node's
// own view of JetStream (its monitoring endpoint) and the leader lease the schedulers contend for.
import { Bus, inboxPrefixFor, leaseBucket, LeaseHolder } from "@drover/bus";
import { silentLogger } from "@drover/protocol";
import { labBusOptions } from "./lab-credentials.js";

/** A cluster node's view: the JetStream meta leader it follows and how many routes it has. */
export interface NatsNodeHealth {
  metaLeader: string | null;
  routes: number;
}

/** Null when the node does not answer (down, or still starting). */
export async function natsNodeHealth(monitorUrl: string): Promise<NatsNodeHealth | null> {
  try {
    const get = async (path: string) =>
      (await fetch(`${monitorUrl}${path}`, { signal: AbortSignal.timeout(2000) })).json() as Promise<unknown>;
    const jsz = (await get("/jsz")) as { meta_cluster?: { leader?: string } };
    const routez = (await get("/routez")) as { num_routes?: number };
    return { metaLeader: jsz.meta_cluster?.leader || null, routes: routez.num_routes ?? 0 };
  } catch {
    return null;
  }
}

/**
 * The scheduler holding the leader lease of `cluster` (read with the lab's scheduler identity, the
 * one allowed the lease bucket); null when none holds it or NATS does not answer within a few seconds.
 */
export async function readLeader(stateDir: string, natsUrls: string[], cluster: string): Promise<LeaseHolder | null> {
  let bus: Bus | undefined;
  try {
    bus = await Bus.connect({
      ...labBusOptions(stateDir, natsUrls, "scheduler"),
      inboxPrefix: inboxPrefixFor({ kind: "scheduler" }, cluster),
      name: "drover lab status",
      logger: silentLogger,
      connectTimeoutMs: 2000,
      requestTimeoutMs: 2000,
    });
    const kv = await bus.jetstream.kv(leaseBucket(cluster), LeaseHolder, { mustExist: true });
    return (await kv.get(cluster)) ?? null;
  } catch {
    return null;
  } finally {
    await bus?.close().catch(() => undefined);
  }
}
