// Maintenance end to end: `drover drain h1 --wait` empties h1 through live migrations (the guests'
// tick counters continue on their new hosts), h1 ends in maintenance; a VM pinned to its host
// stops a drain with that reason.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Bus } from "@drover/bus";
import { ticksAbove } from "@drover/lab/testing";
import { ApiError, ApiMaintenance, Command, CommandReply, HistoryResponse, silentLogger, subjects } from "@drover/protocol";
import { call, drover, http } from "./helpers/api.js";
import { hosts, migrations, vms, waitReady, ticksMoved } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

let d: DroverLab;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 31,
    hosts: 3,
    guests: [
      { name: "vm1", host: "h1" },
      { name: "vm2", host: "h1", memoryMiB: 128 },
      { name: "vm3", host: "h2", memoryMiB: 128, tags: ["drover:pinned"] },
    ],
    scheduler: { policies: { balance: { mode: "off" } } },
  });
  await waitReady(d.api, 3, ["vm1", "vm2", "vm3"]);
});

afterAll(async () => {
  await d?.stop();
});

describe("drain", () => {
  it("moves every guest off h1, live (tick counters continue), and leaves h1 in maintenance", async () => {
    const before = { vm1: await d.ticks("vm1"), vm2: await d.ticks("vm2") };
    expect(before.vm1.host).toBe("h1");
    expect(before.vm2.host).toBe("h1");

    const r = await drover(d.api, ["drain", "h1", "--wait", "--json"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const m = ApiMaintenance.parse(JSON.parse(r.stdout));
    expect(m.state).toBe("in-maintenance");
    expect(m.vmsLeft).toBe(0);

    for (const vm of ["vm1", "vm2"] as const) {
      // The same guest, arrived by live migration (not a reboot), ticking on past where it was.
      await ticksMoved(d, vm, "h1", before[vm].last);
    }
    const h1 = (await hosts(d.api)).find((h) => h.id === "h1");
    expect(h1?.state).toBe("maintenance");
    expect(h1?.vmCount).toBe(0);
    const where = new Map((await vms(d.api)).map((v) => [v.name, v.host]));
    expect(where.get("vm1")).toBe((await d.ticks("vm1")).host);

    const ms = (await migrations(d.api)).filter((x) => x.state === "succeeded");
    expect(ms.map((x) => x.vm).sort()).toEqual(["vm1", "vm2"]);

    // Still ticking on the new hosts.
    const t1 = await d.ticks("vm1");
    await ticksAbove(`vm1 ticking again on ${t1.host}`, d.lab.host(t1.host!).serialFile("vm1"), t1.last);

    const hist = await call(d.api, "GET", "/v1/history?limit=200", HistoryResponse);
    expect(hist.entries.some((e) => e.kind === "maintenance" && e.host === "h1")).toBe(true);

    const u = await drover(d.api, ["undrain", "h1"]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain("h1 is back in service");
  });

  it("is stopped by a VM pinned to the host, with that reason (exit 3), and moves nothing pinned", async () => {
    const r = await drover(d.api, ["drain", "h2", "--wait"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
    expect(r.stdout).toContain("h2 cannot be drained");
    expect(r.stdout).toMatch(/vm3: .*pin/i);
    expect(await d.hostOf("vm3")).toBe("h2");
    expect((await migrations(d.api)).filter((x) => x.vm === "vm3")).toEqual([]);
    const u = await drover(d.api, ["undrain", "h2"]);
    expect(u.code, u.stderr).toBe(0);
  });
});

describe("bad input to the API and the CLI", () => {
  const snapshot = async () => ({
    hosts: (await hosts(d.api)).map((h) => [h.id, h.state, h.maintenanceId]),
    vms: (await vms(d.api)).map((v) => [v.name, v.host]),
    migrations: (await migrations(d.api)).length,
    // Host events (an agent's libvirt or lifecycle news) come from the hosts, not from this input.
    history: (await call(d.api, "GET", "/v1/history?limit=1000", HistoryResponse)).entries.filter((e) => e.kind !== "host").length,
  });

  it("gets a clear error naming what is wrong, and changes nothing", async () => {
    const before = await snapshot();
    const cases: { method: "GET" | "POST"; path: string; body?: unknown; raw?: string; status: number; field?: string; text: RegExp }[] = [
      { method: "POST", path: "/v1/migrations", body: { vm: "vm1", host: "nope" }, status: 400, text: /nope/ },
      { method: "POST", path: "/v1/migrations", body: { vm: "no-such-vm", host: "h2" }, status: 400, text: /no-such-vm/ },
      { method: "POST", path: "/v1/migrations", body: { vm: 7, host: true }, status: 400, field: "body.host", text: /./ },
      { method: "POST", path: "/v1/migrations", body: { vm: "vm1", host: "h2", extra: 1 }, status: 400, text: /extra/ },
      { method: "POST", path: "/v1/plan", raw: "{ not json", status: 400, field: "body", text: /JSON/i },
      { method: "POST", path: "/v1/plan", body: { kind: "shuffle" }, status: 400, field: "body.kind", text: /./ },
      { method: "POST", path: "/v1/plan", body: { kind: "drain" }, status: 400, field: "body.host", text: /required/ },
      { method: "POST", path: "/v1/plan", body: { kind: "drain", host: "nope" }, status: 400, text: /nope/ },
      { method: "POST", path: "/v1/hosts/nope/drain", body: {}, status: 404, text: /nope/ },
      { method: "POST", path: "/v1/hosts/h1/drain", body: { powerOff: "yes" }, status: 400, field: "body.powerOff", text: /./ },
      { method: "POST", path: "/v1/hosts/h1/power", body: { action: "explode" }, status: 400, field: "body.action", text: /./ },
      { method: "POST", path: "/v1/plans/no-such-plan/approve", body: {}, status: 404, text: /no-such-plan/ },
      { method: "GET", path: "/v1/history?limit=-3", status: 400, field: "query.limit", text: /./ },
    ];
    for (const c of cases) {
      const r = await http(d.api, c.method, c.path, c.body, c.raw);
      const what = `${c.method} ${c.path} ${c.raw ?? JSON.stringify(c.body)} -> ${r.status} ${JSON.stringify(r.body)}`;
      expect(r.status, what).toBe(c.status);
      const e = ApiError.parse(r.body).error;
      expect(e.message, what).toMatch(c.text);
      if (c.field)
        expect(
          e.issues.map((i) => i.field),
          what,
        ).toContain(c.field);
    }

    const cli: { args: string[]; code: number; text: RegExp }[] = [
      { args: ["migrate", "vm1", "nope"], code: 2, text: /unknown host "nope".*h1, h2, h3/ },
      { args: ["migrate", "no-such-vm", "h2"], code: 1, text: /no-such-vm/ },
      { args: ["drain", "nope"], code: 2, text: /unknown host "nope"/ },
      { args: ["plan", "drain"], code: 2, text: /needs a HOST/ },
      { args: ["plan", "shuffle"], code: 2, text: /unknown plan kind "shuffle"/ },
      { args: ["power", "explode", "h1"], code: 2, text: /off or on/ },
      { args: ["history", "--limit", "abc"], code: 2, text: /--limit/ },
      { args: ["plan", "approve", "no-such-plan"], code: 1, text: /404 not-found.*no-such-plan/ },
      { args: ["migrate", "vm1"], code: 2, text: /migrate: name a destination HOST, or --cluster B/ },
    ];
    for (const c of cli) {
      const r = await drover(d.api, c.args);
      expect(r.code, `drover ${c.args.join(" ")}: ${r.stdout} ${r.stderr}`).toBe(c.code);
      expect(r.stderr, `drover ${c.args.join(" ")}`).toMatch(c.text);
      expect(r.stdout).toBe("");
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe("a command sent to an agent by anything but the scheduler", () => {
  it("runs only as far as the agent allows, and shows in `drover history` as not issued by the scheduler", async () => {
    // Someone holding the scheduler's NATS identity (the only one allowed to publish a command), claiming to be it.
    await using bus = await Bus.connect({ ...d.lab.busOptions("scheduler"), name: "not-the-scheduler", logger: silentLogger });
    const id = `outside-${Date.now().toString(36)}`;
    const reply = await bus.request(
      subjects.hostCommand("lab", "h2"),
      Command,
      { v: 1, id, issuedAtMs: Date.now(), issuedBy: "scheduler", kind: "power-off" },
      CommandReply,
      { timeoutMs: 20_000 },
    );
    expect(reply).toMatchObject({ status: "refused", error: { code: "vms-running" } });
    await vi.waitFor(
      async () => {
        const r = await drover(d.api, ["history", "--kind", "command", "--limit", "1000"]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`NOT ISSUED BY THIS SCHEDULER: command power-off ${id} on h2: refused: vms-running`));
      },
      { timeout: 30_000, interval: 1000 },
    );
    // The drain's own moves are on record too, as the scheduler's.
    const hist = await call(d.api, "GET", "/v1/history?kind=command&limit=1000", HistoryResponse);
    const own = hist.entries.filter((e) => e.summary.startsWith("command migrate "));
    expect(own.length).toBeGreaterThanOrEqual(2);
    expect(hist.entries.filter((e) => e.summary.startsWith("NOT ISSUED")).map((e) => e.id)).toEqual([id]);
  });
});
