// The load history on a real lab (a libvirtd host, a QEMU guest, its agent, the scheduler as a
// process): the guest's and the host's load are recorded, and what was recorded is still there, and
// seeds the scheduler's histories, after the scheduler is restarted; `drover history load` exports it.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LoadHistoryResponse, StatusResponse } from "@drover/protocol";
import { call, drover } from "./helpers/api.js";
import { waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 52,
    hosts: 1,
    guests: [{ name: "vm1", host: "h1", memoryMiB: 128 }],
    // A sample a second, so a few exist within seconds.
    scheduler: { policies: { balance: { mode: "off" } }, history: { resolutionMs: 1000 } },
  });
  await waitReady(d.api, 1, ["vm1"]);
});

afterAll(async () => {
  await d?.stop();
});

const load = (q: string) => call(d.api, "GET", `/v1/history/load?${q}`, LoadHistoryResponse);

describe("load history across a scheduler restart", () => {
  it("keeps the guest's and the host's recorded load and adds to it", async () => {
    const before = await vi.waitFor(
      async () => {
        const r = await load("vm=vm1&sinceMs=0");
        if (r.points.length < 3) throw new Error(`waiting for 3 samples of vm1: ${r.points.length}`);
        return r;
      },
      { timeout: 60_000, interval: 500 },
    );
    expect((await load("host=h1&sinceMs=0")).points.length).toBeGreaterThanOrEqual(3);
    // The operator's export of it: the same series, by name, as JSON and as CSV.
    const [asJson, asCsv] = await Promise.all([
      drover(d.api, ["history", "load", "--vm", "vm1", "--since", "7d", "--json"]),
      drover(d.api, ["history", "load", "--vm", "vm1", "--since", "7d", "--csv"]),
    ]);
    expect(asJson.code, asJson.stderr).toBe(0);
    const exported = LoadHistoryResponse.parse(JSON.parse(asJson.stdout));
    expect([exported.kind, exported.id]).toEqual(["vm", before.id]);
    expect(exported.points.slice(0, before.points.length)).toEqual(before.points);
    expect(asCsv.code, asCsv.stderr).toBe(0);
    const [head, ...rows] = asCsv.stdout.trim().split("\n");
    expect(head).toBe("time,bucket_ms,samples,cpu_mhz,cpu_max_mhz,memory_mib,memory_max_mib");
    expect(rows.slice(0, before.points.length).map((r) => r.split(",")[0])).toEqual(
      before.points.map((p) => new Date(p.timeMs).toISOString()),
    );

    await d.lab.restartScheduler();
    await vi.waitFor(
      () =>
        call(d.api, "GET", "/v1/status", StatusResponse).catch((e: unknown) =>
          Promise.reject(new Error(`waiting for the API: ${String(e)}`)),
        ),
      { timeout: 60_000, interval: 500 },
    );
    // By uuid: a name is resolved from the live picture, which knows the guest again only at its next report.
    const after = await load(`vm=${before.id}&sinceMs=0`);
    // Everything recorded before the restart is still there, at the same times.
    const times = new Set(after.points.map((p) => p.timeMs));
    expect(before.points.every((p) => times.has(p.timeMs))).toBe(true);
    await vi.waitFor(
      async () => {
        const r = await load(`vm=${before.id}&sinceMs=0`);
        if (r.points.length <= after.points.length) throw new Error("waiting for a sample after the restart");
      },
      { timeout: 60_000, interval: 500 },
    );
  });
});
