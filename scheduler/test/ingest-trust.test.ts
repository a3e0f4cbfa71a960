// What a report may change: only its own host's picture, only if dated sanely, only within its
// bounds. Real nats-server, real SQLite, a running Scheduler; forged reports go on the wire raw.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { ApiError, HostReportLimits, HostsResponse, StatusResponse, VmsResponse, subjects } from "@drover/protocol";
import { get, harness, json, post, type Harness } from "./harness.js";
import { memoryLogger } from "@drover/protocol/testing";
import { CLUSTER, report, uuid, type VmSpec } from "./helpers.js";

const DROVER = fileURLToPath(new URL("../../cli/bin/drover.js", import.meta.url));

/** Runs the real `drover` CLI against this scheduler's API. */
function drover(h: Harness, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DROVER, "--api", h.url(""), ...args],
      { timeout: 100_000, env: { ...process.env, DROVER_API: "", DROVER_TOKEN: h.token } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A logger that keeps every line (to count what a flood writes). */
/** Publishes bytes on a host's report subject as anyone on the bus could (no client-side checks). */
async function raw(h: Harness, subjectHost: string, body: unknown): Promise<void> {
  const data = typeof body === "string" ? body : JSON.stringify(body);
  h.agents.bus.nc.publish(subjects.hostReport(CLUSTER, subjectHost), new TextEncoder().encode(data));
  await h.agents.bus.flush();
}

const getJson = async (h: Harness, path: string) => json(await get(h.url(path)));
const vmsOf = async (h: Harness) => VmsResponse.parse(await getJson(h, "/v1/vms")).vms.map((v) => [v.name, v.host]);
const hostStates = async (h: Harness) => HostsResponse.parse(await getJson(h, "/v1/hosts")).hosts.map((x) => [x.id, x.state, x.vmCount]);

describe("reports the scheduler believes", () => {
  it("drops a report published on h1's subject claiming to be h2; h2's VMs stay; a flood writes one line per subject per interval", async () => {
    const log = memoryLogger();
    await using h = await harness(["h1", "h2"], { h2: [{ uuid: uuid(2), name: "v2" }] }, {}, { logger: log });
    await h.report();
    const forged = report("h2", [], h.clock.now() + 90_000);
    for (let i = 0; i < 50; i++) await raw(h, "h1", forged);
    await vi.waitFor(() => expect(h.s.rejectedReports()["wrong-host"]).toBe(50), { timeout: 15_000 });
    expect(await vmsOf(h)).toEqual([["v2", "h2"]]);
    expect(await hostStates(h)).toEqual([
      ["h1", "healthy", 0],
      ["h2", "healthy", 1],
    ]);
    const dropLines = () => log.entries.filter((l) => l.msg.startsWith("dropped"));
    // The first drop is logged at once; the other 49 wait for the interval.
    expect(dropLines()).toHaveLength(1);
    expect(dropLines()[0]!.obj).toMatchObject({ subject: subjects.hostReport(CLUSTER, "h1"), count: 1, host: "h2" });
    h.clock.advance(h.s.config.reports.dropLogIntervalMs);
    await h.s.tick();
    expect(dropLines()).toHaveLength(2);
    expect(dropLines()[1]!.obj).toMatchObject({ count: 49, dropped: { "wrong-host": 49 } });
    const status = StatusResponse.parse(await getJson(h, "/v1/status"));
    expect(status.reports.invalid).toBe(50);
    const metrics = await (await get(h.url("/metrics"))).text();
    expect(metrics).toContain('drover_reports_rejected_total{reason="wrong-host"} 50');
  });

  it("a report dated in the future neither hides the host's VMs nor makes it unreachable", async () => {
    await using h = await harness(["h1", "h2"], { h2: [{ uuid: uuid(2), name: "v2" }] });
    await h.report();
    for (const ahead of [90_000, 365 * 86_400_000]) await raw(h, "h2", report("h2", [], h.clock.now() + ahead));
    await vi.waitFor(() => expect(h.s.rejectedReports().future).toBe(2), { timeout: 15_000 });
    expect(await vmsOf(h)).toEqual([["v2", "h2"]]);
    // The host's own reports go on being believed: it never turns unreachable.
    for (let i = 0; i < 5; i++) {
      h.clock.advance(2000);
      await h.report();
      await h.s.tick();
      expect(await hostStates(h)).toEqual([
        ["h1", "healthy", 0],
        ["h2", "healthy", 1],
      ]);
    }
    expect(h.s.rejectedReports().stale).toBe(0);
    // Within the allowed skew a report is taken as it is.
    await raw(h, "h2", report("h2", [{ uuid: uuid(2), name: "v2" }], h.clock.now() + h.s.config.reports.maxClockSkewMs));
    await vi.waitFor(() => expect(h.s.state.hosts.get("h2")!.lastReportMs).toBe(h.clock.now() + h.s.config.reports.maxClockSkewMs));
  });

  it("refuses a report over reports.maxBytes and one over the VM bound, counts them, and changes nothing", async () => {
    const log = memoryLogger();
    const cfg = { reports: { intervalMs: 1000, maxBytes: 256 * 1024 } };
    await using h = await harness(["h1"], { h1: [{ uuid: uuid(1), name: "v1" }] }, cfg, { logger: log });
    await h.report();
    // ~1 MB, valid by the schema (850 VMs), from a host nobody knows.
    const tags = Array.from({ length: 8 }, (_, i) => `${"t".repeat(100)}${i}`);
    const big: VmSpec[] = Array.from({ length: 850 }, (_, i) => ({ uuid: uuid(1000 + i), name: `big${i}`, tags }));
    const bigBody = JSON.stringify(report("big", big, h.clock.now()));
    expect(bigBody.length).toBeGreaterThan(950_000);
    expect(bigBody.length).toBeLessThan(1_000_000);
    await raw(h, "big", bigBody);
    // One VM over the bound, each VM small (well under maxBytes).
    const many = Array.from({ length: HostReportLimits.vms + 1 }, (_, i) => ({ uuid: uuid(5000 + i), name: "m" }));
    const manyBody = report("many", [], h.clock.now());
    manyBody.vms = many.map((v) => ({ ...report("many", [v], 0).vms[0]!, disks: [], bridges: [] }));
    expect(JSON.stringify(manyBody).length).toBeLessThan(256 * 1024);
    await raw(h, "many", manyBody);
    await vi.waitFor(() => expect(h.s.rejectedReports().invalid).toBe(2), { timeout: 15_000 });
    // Each refused for its own reason: the size before parsing, the VM count by the schema.
    const refused = log.entries.filter((l) => /^dropped \d+ invalid messages on /.test(l.msg)).map((l) => [l.obj.subject, l.obj.field]);
    expect(refused).toEqual([
      [subjects.hostReport(CLUSTER, "big"), "(size)"],
      [subjects.hostReport(CLUSTER, "many"), "vms"],
    ]);
    expect(StatusResponse.parse(await getJson(h, "/v1/status")).reports.invalid).toBe(2);
    expect(await hostStates(h)).toEqual([["h1", "healthy", 1]]);
    expect(h.s.state.vmCount).toBe(1);
  });

  it("with reports.admitUnknownHosts false, only hosts listed under hosts: join", async () => {
    await using h = await harness(["h1", "h9"], {}, { hosts: { h1: {} }, reports: { intervalMs: 1000, admitUnknownHosts: false } });
    await h.report(["h1"]);
    h.agents.publishReports(h.clock.now(), ["h9"]);
    await vi.waitFor(() => expect(h.s.rejectedReports()["unknown-host"]).toBe(1), { timeout: 15_000 });
    expect(await hostStates(h)).toEqual([["h1", "healthy", 0]]);
  });
});

describe("drover host forget", () => {
  const forget = (h: Harness, id: string) => post(h.url(`/v1/hosts/${id}/forget`));
  const refusal = async (res: Response) => ({ status: res.status, ...ApiError.parse(await json(res)).error });

  it("removes a host that no longer exists, its VMs and current rows, keeps its history; refuses while it reports or is in use", async () => {
    await using h = await harness(["a", "b", "gone"], { gone: [{ uuid: uuid(3), name: "v3" }] }, { hosts: { a: {} } });
    await h.report();
    h.s.flush();
    expect(await refusal(await forget(h, "nope"))).toMatchObject({ status: 404, code: "not-found" });
    expect(await refusal(await forget(h, "gone"))).toMatchObject({ status: 409, code: "host-reporting" });
    expect(await refusal(await forget(h, "a"))).toMatchObject({ status: 409, code: "host-configured" });

    // It stops reporting for good (decommissioned), but a move to it was never finished.
    h.agents.up.delete("gone");
    h.clock.advance(3500);
    await h.report();
    const now = h.clock.now();
    const st = h.s.store;
    const move = { commandId: "cmd-m1", planId: null, vmUuid: uuid(3), vmName: "v3", requestedBy: "test", reason: "t", createdMs: now };
    st.migrations.insert({ ...move, id: "m1", source: "gone", destination: "b" });
    expect(await refusal(await forget(h, "gone"))).toMatchObject({ status: 409, code: "host-busy", message: expect.stringMatching(/m1/) });
    st.migrations.update("m1", { status: "failed", atMs: now });
    st.power.record({ id: "p1", host: "gone", action: "wake", method: "wol", requestedBy: "test", reason: "t", atMs: now });
    expect(await refusal(await forget(h, "gone"))).toMatchObject({ status: 409, code: "host-busy", message: expect.stringMatching(/p1/) });
    st.power.update("p1", { status: "failed", atMs: now });

    const res = await forget(h, "gone");
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ id: "gone", vmCount: 1 });
    expect((await hostStates(h)).map((x) => x[0])).toEqual(["a", "b"]);
    expect(await vmsOf(h)).toEqual([]);
    expect(st.hosts.get("gone")).toBeUndefined();
    expect(st.vms.get(uuid(3))).toBeUndefined();
    expect(st.migrations.get("m1")).toMatchObject({ source: "gone", status: "failed" });
    expect(st.power.get("p1")).toMatchObject({ host: "gone" });
    // Not back after a restart (the store forgot it too).
    await h.restart();
    expect([...h.s.state.hosts.keys()].sort()).toEqual(["a", "b"]);
  });

  it(
    "retires a drained host (its finished maintenance closes with it) but refuses one whose drain is in progress",
    { timeout: 120_000 },
    async () => {
      await using h = await harness(["a", "b", "c"], {});
      await h.report();
      const drain = await post(h.url("/v1/hosts/b/drain"), {});
      expect(drain.status).toBe(202);
      const mnt = await json(drain);
      await vi.waitFor(() => expect(h.s.store.maintenance.get(mnt.id)!.status).toBe("in-maintenance"), { timeout: 15_000 });
      h.s.store.maintenance.request({ id: "mnt-c", host: "c", requestedBy: "test", powerOff: false, atMs: h.clock.now() });
      for (const x of ["b", "c"]) h.agents.up.delete(x);
      h.clock.advance(3500);
      await h.report(["a"]);
      // Through the CLI, as an operator would.
      const refused = await drover(h, ["host", "forget", "c"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/c cannot be forgotten: maintenance mnt-c is draining/);
      const done = await drover(h, ["host", "forget", "b"]);
      expect(done).toMatchObject({ code: 0, stdout: expect.stringMatching(/^b forgotten/) });
      expect(h.s.store.maintenance.get(mnt.id)).toMatchObject({ status: "cancelled", host: "b" });
      expect(h.s.store.maintenance.active("b")).toBeUndefined();
      expect([...h.s.state.hosts.keys()].sort()).toEqual(["a", "c"]);
    },
  );
});
