// One scheduler against a real nats-server and a real SQLite file, with fake agents on the bus.
import { vi } from "vitest";
import { TokenBook } from "../src/api/tokens.js";
import { ManualClock } from "../src/clock.js";
import type { SchedulerConfigInput } from "../src/config.js";
import { Scheduler, type SchedulerDeps } from "../src/scheduler.js";
import { FakeAgents, NatsServer, config, tempDir, type VmSpec } from "./helpers.js";

export interface Harness extends AsyncDisposable {
  nats: NatsServer;
  dir: string;
  clock: ManualClock;
  agents: FakeAgents;
  s: Scheduler;
  url: (path: string) => string;
  /** Publishes a report from every up host (at clock time) and waits until the scheduler saw them. */
  report(hosts?: string[]): Promise<void>;
  restart(deps?: SchedulerDeps): Promise<Scheduler>;
  /** Publishes reports from every up host every `ms` (like running agents) until disposed. */
  autoReport(ms?: number): void;
  cfg: Partial<SchedulerConfigInput>;
  /** An admin token of this scheduler; get() and post() send it. */
  token: string;
}

/** Tokens by API origin, so get(h.url(...)) and post(h.url(...)) authenticate without threading h through. */
const tokens = new Map<string, string>();
const authOf = (url: string): Record<string, string> => {
  const t = tokens.get(new URL(url).origin);
  return t ? { authorization: `Bearer ${t}` } : {};
};

export async function harness(
  hosts: string[],
  vms: Record<string, VmSpec[]>,
  cfg: Partial<SchedulerConfigInput> = {},
  deps: SchedulerDeps = {},
): Promise<Harness> {
  // What is up so far, ended in reverse if setting up fails: a test that breaks here must not leave
  // a nats-server running after it.
  const undo: (() => Promise<unknown>)[] = [];
  try {
    return await setUp(undo, hosts, vms, cfg, deps);
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw e;
  }
}

async function setUp(
  undo: (() => Promise<unknown>)[],
  hosts: string[],
  vms: Record<string, VmSpec[]>,
  cfg: Partial<SchedulerConfigInput>,
  deps: SchedulerDeps,
): Promise<Harness> {
  const nats = await NatsServer.start();
  undo.push(() => nats.stop());
  const dir = await tempDir();
  undo.push(() => dir[Symbol.asyncDispose]());
  const clock = new ManualClock(Date.now());
  const agents = await FakeAgents.start(nats.url, hosts);
  undo.push(() => agents.close());
  for (const [h, list] of Object.entries(vms)) for (const v of list) agents.place(h, v);
  let timer: NodeJS.Timeout | undefined;
  const make = () => Scheduler.create(config(nats.url, dir.path, cfg), { clock, autoTick: false, ...deps });
  const h: Harness = {
    nats,
    dir: dir.path,
    clock,
    agents,
    cfg,
    token: "",
    s: make(),
    url: (p) => `${h.s.api.address}${p}`,
    async report(list) {
      const before = h.s.state.counters.reports;
      const up = (list ?? [...agents.up]).filter((x) => agents.up.has(x));
      agents.publishReports(clock.now(), up);
      await agents.bus.flush();
      await vi.waitFor(
        () => {
          const seen = h.s.state.counters.reports - before;
          if (seen < up.length) throw new Error(`waiting for ${up.length} reports to be ingested: ${seen} so far`);
        },
        { timeout: 15_000, interval: 20 },
      );
    },
    async restart(d = {}) {
      await h.s.shutdown();
      h.s = Scheduler.create(config(nats.url, dir.path, cfg), { clock, autoTick: false, ...deps, ...d });
      await h.s.start();
      tokens.set(new URL(h.s.api.address).origin, h.token);
      return h.s;
    },
    autoReport(ms = 100) {
      timer = setInterval(() => agents.publishReports(clock.now()), ms);
    },
    async [Symbol.asyncDispose]() {
      if (timer) clearInterval(timer);
      await h.s.shutdown().catch(() => undefined);
      await agents.close();
      await nats.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
  undo.push(() => h.s.shutdown());
  await h.s.start();
  h.token = new TokenBook(h.s.store, () => clock.now()).create("test-admin", "admin", "test").token;
  tokens.set(new URL(h.s.api.address).origin, h.token);
  return h;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are checked field by field
export async function json(res: Response): Promise<any> {
  return res.json();
}

export function get(url: string): Promise<Response> {
  return fetch(url, { headers: authOf(url) });
}

export function post(url: string, body?: unknown, raw?: string): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { ...authOf(url), ...(body === undefined && raw === undefined ? {} : { "content-type": "application/json" }) },
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}
