// Waiting on the cluster through the HTTP API and the lab's serial files (test-only: vi.waitFor).
import { Bus } from "@drover/bus";
import {
  ApiMigration,
  ApiMigrationEnded,
  HostReport,
  HostsResponse,
  MigrationsResponse,
  VmsResponse,
  silentLogger,
  subjects,
  type ApiHost,
  type ApiVm,
} from "@drover/protocol";
import { movedLive } from "@drover/lab/testing";
import { vi } from "vitest";
import { call } from "./api.js";
import type { DroverLab } from "./drover-lab.js";

export async function hosts(api: string): Promise<ApiHost[]> {
  return (await call(api, "GET", "/v1/hosts", HostsResponse)).hosts;
}

export async function vms(api: string): Promise<ApiVm[]> {
  return (await call(api, "GET", "/v1/vms", VmsResponse)).vms;
}

export async function migrations(api: string): Promise<ApiMigration[]> {
  return (await call(api, "GET", "/v1/migrations?limit=1000", MigrationsResponse)).migrations;
}

/** Every host healthy and every named VM reported running. */
export async function waitReady(api: string, nHosts: number, vmNames: string[], timeoutMs = 120_000): Promise<void> {
  await vi.waitFor(
    async () => {
      const healthy = (await hosts(api)).filter((h) => h.state === "healthy").map((h) => h.id);
      const running = (await vms(api)).filter((v) => v.state === "running").map((v) => v.name);
      if (healthy.length < nHosts || !vmNames.every((n) => running.includes(n))) {
        const seen = `healthy: ${healthy.join(", ") || "none"}; running: ${running.join(", ") || "none"}`;
        throw new Error(`waiting for ${nHosts} healthy hosts reporting ${vmNames.join(", ")}; ${seen}`);
      }
    },
    { timeout: timeoutMs, interval: 1000 },
  );
}

export function waitMigrationDone(api: string, id: string, timeoutMs = 180_000): Promise<ApiMigration> {
  return vi.waitFor(
    async () => {
      const m = await call(api, "GET", `/v1/migrations/${id}`, ApiMigration);
      if (!ApiMigrationEnded.has(m.state)) throw new Error(`waiting for migration ${id} to end: ${m.state}`);
      return m;
    },
    { timeout: timeoutMs, interval: 1000 },
  );
}

/**
 * Waits until the guest's QEMU runs on a host other than `from` (the lab's process table), then checks
 * that it arrived there by migration and ticks past `above` (movedLive: QEMU's TCG losses told apart).
 */
export async function ticksMoved(
  d: DroverLab,
  vm: string,
  from: string,
  above: number,
  timeoutMs = 60_000,
): Promise<{ host: string; last: number }> {
  const host = await vi.waitFor(
    async () => {
      const on = await d.hostOf(vm);
      if (on === null || on === from) throw new Error(`waiting for ${vm} to run away from ${from}: on ${on ?? "no host"}`);
      return on;
    },
    { timeout: timeoutMs, interval: 500 },
  );
  return { host, last: await movedLive(`${vm} ticking on ${host}`, d.lab.host(host).serialFile(vm), above, timeoutMs) };
}

/**
 * Waits until `host`'s agent reports the guest's dirty rate on the wanted side of `capMiBs` (what
 * the cost model predicts a move's strategy from). A measurement taken while a guest booted reads
 * far over the cap until the next one, and on a slower machine the first can fall in the boot: an
 * idle guest's rate must stay under the cap for `holdMs`, longer than one measurement period plus a
 * report, so the reading the move is predicted from was taken after the boot.
 */
export async function dirtyRateReported(
  d: DroverLab,
  at: { host: string; vm: string },
  side: "over" | "under",
  capMiBs: number,
  holdMs = side === "under" ? 10_000 : 0,
): Promise<void> {
  await using bus = await Bus.connect({ ...d.lab.busOptions("scheduler"), name: "dirty-rate-wait", logger: silentLogger });
  let rate: number | null = null;
  let since: number | null = null;
  const sub = bus.subscribe(subjects.hostReport("lab", at.host), HostReport, (r) => {
    rate = r.vms.find((v) => v.name === at.vm)?.dirtyRateMiBs ?? rate;
    const ok = rate !== null && (side === "over" ? rate > capMiBs : rate <= capMiBs);
    since = ok ? (since ?? Date.now()) : null;
  });
  try {
    await vi.waitFor(
      () => {
        if (since === null || Date.now() - since < holdMs)
          throw new Error(`waiting for ${at.host} to report ${at.vm} dirtying ${side} ${capMiBs} MiB/s for ${holdMs} ms: ${rate}`);
      },
      { timeout: 200_000, interval: 500 },
    );
  } finally {
    sub.unsubscribe();
  }
}
