// The lab most of issue 11's fault cases start from, and the common checks after a fault: every guest runs on exactly one host
// and keeps ticking, no command reached an agent twice (the agents' logs), and the cluster is
// plannable again within a stated time.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, vi } from "vitest";
import { ApiMigration, StatusResponse } from "@drover/protocol";
import { ticksAbove } from "@drover/lab/testing";
import { call } from "./api.js";
import { hosts, migrations, waitMigrationDone } from "./cluster.js";
import { DroverLab, type DroverLabOptions } from "./drover-lab.js";

/**
 * Two hosts: vm1 on h1 dirties a working set of random data, so under the 8 MiB/s cap its move lasts
 * long enough for a fault to land in the middle of it (about ten seconds: the fault lands at 10-20 %,
 * reported every 500 ms, and `waitProgress` asserts the move still runs then) and still converges.
 * (At 4 MiB/s the cases spent most of their time copying.) vm2 is a bystander on
 * h2 that must keep running through the fault. Balancing is off and cool-downs are short, so only the
 * fault decides what moves. `failureCooldownMs`: the cool-down after a failed move (the scheduler's
 * default when not given, for a test that checks no failure was charged).
 */
export function twoHostFaultLab(o: { net: number; network?: DroverLabOptions["network"]; failureCooldownMs?: number }): Promise<DroverLab> {
  return DroverLab.start({
    net: o.net,
    hosts: 2,
    ...(o.network ? { network: o.network } : {}),
    guests: [
      { name: "vm1", host: "h1", memoryMiB: 96, workload: { dirtyMb: 24, dirtyRate: 1 } },
      { name: "vm2", host: "h2", memoryMiB: 96 },
    ],
    scheduler: {
      policies: { balance: { mode: "off" } },
      migration: { bandwidthMiBs: 8 },
      cooldowns: { vmMs: 1000, returnMs: 1000, ...(o.failureCooldownMs === undefined ? {} : { failureMs: o.failureCooldownMs }) },
    },
  });
}

/** How soon after a fault the cluster must be plannable again (issue 11's matrix asks for a stated time). */
export const PLANNABLE_WITHIN_MS = 60_000;

/** Lines of a host's agent log (every run of the agent appends to it) that mention every one of `texts`. */
export async function agentLogLines(d: DroverLab, host: string, ...texts: string[]): Promise<string[]> {
  const log = await readFile(join(d.lab.host(host).dir, "agent.log"), "utf8");
  return log.split("\n").filter((l) => texts.every((t) => l.includes(t)));
}

/** How many times each agent logged receiving the command `commandId`, by host (hosts with none left out). */
export async function commandReceipts(d: DroverLab, commandId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const h of d.lab.hosts) {
    const n = (await agentLogLines(d, h.name, `"${commandId}"`, '"command received"')).length;
    if (n > 0) out[h.name] = n;
  }
  return out;
}

/**
 * Waits until the move has reported at least `fraction` of its data copied, and asserts it still
 * runs then (a fault injected next lands mid-copy); returns that view of it.
 */
export async function waitProgress(d: DroverLab, id: string, fraction: number, timeoutMs = 120_000): Promise<ApiMigration> {
  const x = await vi.waitFor(
    async () => {
      const m = await call(d.api, "GET", `/v1/migrations/${id}`, ApiMigration);
      if ((m.progress?.fraction ?? 0) < fraction)
        throw new Error(`waiting for ${fraction * 100} % of the move: ${m.state} ${JSON.stringify(m.progress)}`);
      return m;
    },
    { timeout: timeoutMs, interval: 100 },
  );
  expect(x.state, `the move at ${fraction * 100} %: ${JSON.stringify(x)}`).toBe("running");
  return x;
}

/**
 * Every guest's QEMU runs on exactly one host (the lab's process table, not Drover) and its tick
 * counter goes on increasing there. Returns where each runs.
 */
export async function eachGuestOnOneHostTicking(d: DroverLab, guests: readonly string[]): Promise<Map<string, string>> {
  const where = new Map<string, string>();
  for (const g of guests) {
    const on = await vi.waitFor(
      async () => {
        const found = [];
        for (const h of d.lab.hosts) if ((await h.qemuProcs()).some((q) => q.guest === g)) found.push(h.name);
        if (found.length !== 1) throw new Error(`${g} runs on ${found.join(", ") || "no host"}`);
        return found[0]!;
      },
      { timeout: 60_000, interval: 500 },
    );
    where.set(g, on);
    await ticksAbove(`${g} ticking on ${on}`, d.lab.host(on).serialFile(g), (await d.ticks(g)).last, 30_000);
  }
  return where;
}

/** Waits until every host is healthy and nothing is in flight, within PLANNABLE_WITHIN_MS. */
export async function waitPlannable(d: DroverLab): Promise<void> {
  const by = Date.now() + PLANNABLE_WITHIN_MS;
  await vi.waitFor(
    async () => {
      const hs = await hosts(d.api);
      const st = await call(d.api, "GET", "/v1/status", StatusResponse);
      if (hs.some((h) => h.state !== "healthy") || st.migrations.inFlight > 0)
        throw new Error(
          `waiting for a plannable cluster: ${hs.map((h) => `${h.id} ${h.state}`).join(", ")}; ${st.migrations.inFlight} in flight`,
        );
    },
    { timeout: PLANNABLE_WITHIN_MS, interval: 1000 },
  );
  expect(Date.now()).toBeLessThanOrEqual(by);
}

/**
 * Between fault cases that share one lab: waits until the cluster is plannable, moves each guest
 * back to its host in `home` if a case left it elsewhere, and asserts every guest runs there (one
 * host, ticking), so the next case starts from the lab as it was first started.
 */
export async function restoreHomes(d: DroverLab, home: Record<string, string>): Promise<void> {
  await waitPlannable(d);
  for (const [vm, host] of Object.entries(home)) {
    if ((await d.hostOf(vm)) === host) continue;
    const back = await vi.waitFor(() => call(d.api, "POST", "/v1/migrations", ApiMigration, { vm, host }), {
      timeout: 30_000,
      interval: 1000,
    });
    expect((await waitMigrationDone(d.api, back.id, 300_000)).state, `${vm} moved home to ${host}`).toBe("succeeded");
  }
  expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, Object.keys(home)))).toEqual(home);
  await waitPlannable(d);
}

/** The moves recorded since `before` (ids of the moves seen then), newest first as the API lists them. */
export async function movesSince(d: DroverLab, before: ReadonlySet<string>): Promise<ApiMigration[]> {
  return (await migrations(d.api)).filter((m) => !before.has(m.id));
}

/** The ids of every move recorded so far: what a case that shares a lab compares against (movesSince). */
export async function moveIds(d: DroverLab): Promise<Set<string>> {
  return new Set((await migrations(d.api)).map((m) => m.id));
}
