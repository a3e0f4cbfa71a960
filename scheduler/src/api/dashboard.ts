// The dashboard's data: one body (protocol's ApiDashboard) made of the API's own views, the day's
// timeline sampled while the scheduler runs, and the server-sent event stream that pushes the body
// whenever it changes. The stream authenticates like every route (the Authorization header, which
// the page sends with fetch, so no token is ever in a URL) and checks the token again before every
// push, so a revoked token stops seeing within a push.
import type { ServerResponse } from "node:http";
import type { ApiCaller, ApiDashboard, ApiHost, ApiTimelinePoint } from "@drover/protocol";
import { hostWatts, type HostSample } from "../metrics.js";
import { planToApi } from "../planner.js";
import type { SchedulerApi } from "./ports.js";
import { AuthError } from "./tokens.js";
import { migrationView, vmsView } from "./views.js";

/** The stream sends the body this often (its clock and progress change every time); the timeline samples when due. */
export const PUSH_EVERY_MS = 1000;
const DAY_MS = 24 * 3_600_000;
const SAMPLE_EVERY_MS = 60_000;
const RECENT_MIGRATIONS = 10;
const OTHER_PLANS = 10;

interface Client {
  res: ServerResponse;
  authorization: string | undefined;
}

export class DashboardFeed {
  private readonly points: ApiTimelinePoint[] = [];
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly s: SchedulerApi,
    private readonly hostView: (id: string) => ApiHost,
  ) {}

  /** The whole picture the page draws, as GET /v1/dashboard answers it. */
  snapshot(): ApiDashboard {
    const s = this.s;
    const now = s.clock.now();
    this.sample(now);
    const samples = new Map(s.metrics.sources.hosts().map((h) => [h.id, h]));
    const migration = (m: Parameters<typeof migrationView>[0]) => migrationView(m, s.moves.progressOf(m.id), s.vmRunningOn(m));
    const inFlight = s.store.migrations.inFlight();
    const proposed = s.store.plans.list({ status: "proposed", limit: 50 });
    const others = s.store.plans
      .list({ limit: OTHER_PLANS + proposed.length })
      .filter((p) => p.status !== "proposed")
      .slice(0, OTHER_PLANS);
    const open = s.store.maintenance.allActive();
    const ended = s.store.maintenance.list({ since: now - DAY_MS, limit: 20 }).filter((m) => !open.some((o) => o.id === m.id));
    const day = s.store.migrations.list({ since: Math.max(now - DAY_MS, this.points[0]?.timeMs ?? now), limit: 1000 });
    return {
      cluster: s.config.cluster,
      nowMs: now,
      modes: s.modes.modes,
      band: consolidationBand(s.config.policies.consolidate.args),
      hosts: [...s.state.hosts.values()]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((h) => {
          const sample = samples.get(h.id);
          return { ...this.hostView(h.id), contention: sample?.usage?.contention ?? null, watts: sample ? hostWatts(sample) : null };
        }),
      vms: vmsView(s.state, s.config),
      inFlight: inFlight.map(migration),
      recent: s.store.migrations
        .list({ limit: RECENT_MIGRATIONS + inFlight.length })
        .filter((m) => m.endedMs !== null)
        .slice(0, RECENT_MIGRATIONS)
        .map(migration),
      plans: [...proposed, ...others].map(planToApi),
      maintenance: [...open.reverse(), ...ended].map((m) => s.maintenance.toApi(m)),
      timeline: {
        sinceMs: this.points[0]?.timeMs ?? now,
        points: [...this.points],
        migrations: day.reverse().map((m) => ({ timeMs: m.createdMs, vm: m.vmName, state: migration(m).state })),
        ...energy(this.points, now),
      },
    };
  }

  /** Takes a timeline sample when one is due; keeps the last day. */
  private sample(now: number): void {
    const last = this.points.at(-1);
    if (last && now - last.timeMs < SAMPLE_EVERY_MS && now >= last.timeMs) return;
    const hosts = this.s.metrics.sources.hosts();
    this.points.push({
      timeMs: now,
      activeHosts: hosts.filter((h) => h.state !== "standby").length,
      migrationsInFlight: this.s.moves.inFlightCount,
      ...wattsOf(hosts),
    });
    while (this.points.length > 0 && this.points[0]!.timeMs < now - DAY_MS) this.points.shift();
  }

  /**
   * Answers GET /v1/dashboard/events: a `caller` event (who the token is, so the page offers only
   * what that role may do), then a `dashboard` event at once and every PUSH_EVERY_MS.
   */
  stream(res: ServerResponse, caller: ApiCaller, authorization: string | undefined): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    const c: Client = { res, authorization };
    this.clients.add(c);
    res.on("close", () => this.clients.delete(c));
    res.write(`event: caller\ndata: ${JSON.stringify(caller)}\n\n`);
    this.push([c]);
  }

  /** Starts the sampling and pushing timer (the server's onReady). */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), PUSH_EVERY_MS);
    this.timer.unref();
  }

  /** Ends every stream (the server's preClose: an open stream would keep close() waiting). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private tick(): void {
    try {
      if (this.clients.size > 0) this.push([...this.clients]);
      else this.sample(this.s.clock.now());
    } catch (e) {
      this.s.log.error({ err: e }, "dashboard update failed");
    }
  }

  private push(clients: Client[]): void {
    const body = JSON.stringify(this.snapshot());
    for (const c of clients) {
      try {
        this.s.tokens.authenticate(c.authorization);
      } catch (e) {
        const message = e instanceof AuthError ? e.message : "the token is no longer accepted";
        c.res.write(`event: unauthorized\ndata: ${JSON.stringify({ message })}\n\n`);
        c.res.end();
        this.clients.delete(c);
        continue;
      }
      c.res.write(`event: dashboard\ndata: ${body}\n\n`);
    }
  }
}

/** The consolidate policy's band (its args are the policy's own, checked at config load). */
function consolidationBand(args: Record<string, unknown>): { low: number; high: number } | null {
  const band = args.band as { low?: unknown; high?: unknown } | undefined;
  return typeof band?.low === "number" && typeof band.high === "number" ? { low: band.low, high: band.high } : null;
}

/** Draw now and with every host on (a host in standby would draw its idle watts). */
function wattsOf(hosts: HostSample[]): { watts: number | null; allOnWatts: number | null } {
  const known = hosts.filter((h) => h.power);
  if (known.length === 0) return { watts: null, allOnWatts: null };
  const watts = known.reduce((w, h) => w + (hostWatts(h) ?? 0), 0);
  const saved = known.reduce((w, h) => w + (h.state === "standby" ? h.power!.idleW : 0), 0);
  return { watts, allOnWatts: watts + saved };
}

/** Watt-hours over the samples, each sample's draw held until the next (the last one until now). */
function energy(points: ApiTimelinePoint[], now: number): { energyWh: number | null; allOnEnergyWh: number | null } {
  if (!points.some((p) => p.watts !== null)) return { energyWh: null, allOnEnergyWh: null };
  let wh = 0;
  let allOnWh = 0;
  points.forEach((p, i) => {
    const hours = Math.max(0, (points[i + 1]?.timeMs ?? now) - p.timeMs) / 3_600_000;
    wh += (p.watts ?? 0) * hours;
    allOnWh += (p.allOnWatts ?? 0) * hours;
  });
  return { energyWh: wh, allOnEnergyWh: allOnWh };
}
