import { describe, expect, it } from "vitest";
import { HostsResponse, StatusResponse, subjects } from "@drover/protocol";
import { join } from "node:path";
import { Store } from "@drover/store";
import { harness, json, get } from "./harness.js";
import { CLUSTER, report, uuid } from "./helpers.js";

describe("host reports over NATS", () => {
  it("validates reports, counts bad ones without acting on them, and marks silent hosts unreachable", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v1" }] });
    await h.report();
    const nc = h.agents.bus.nc;
    nc.publish(subjects.hostReport(CLUSTER, "a"), new TextEncoder().encode("{not json"));
    const bad = report("a", [], h.clock.now()) as Record<string, unknown>;
    nc.publish(subjects.hostReport(CLUSTER, "a"), new TextEncoder().encode(JSON.stringify({ ...bad, capacity: { cpus: -1 } })));
    nc.publish(subjects.hostReport(CLUSTER, "zz"), new TextEncoder().encode(JSON.stringify({ ...bad, vms: [{ uuid: "nope" }] })));
    await h.agents.bus.flush();
    await expect
      .poll(async () => StatusResponse.parse(await json(await get(h.url("/v1/status")))).reports.invalid, {
        timeout: 15_000,
        interval: 20,
        message: "3 invalid counted",
      })
      .toBe(3);
    // Nothing acted on: host a still has its VM, no host zz appeared.
    const hosts = HostsResponse.parse(await json(await get(h.url("/v1/hosts"))));
    expect(hosts.hosts.map((x) => [x.id, x.vmCount, x.state])).toEqual([
      ["a", 1, "healthy"],
      ["b", 0, "healthy"],
    ]);
    // b goes silent for more than 3 intervals.
    h.clock.advance(3500);
    await h.report(["a"]);
    const later = HostsResponse.parse(await json(await get(h.url("/v1/hosts"))));
    expect(later.hosts.find((x) => x.id === "b")!.state).toBe("unreachable");
    await h.s.tick();
    h.s.flush();
    expect(h.s.store.hosts.get("b")!.state).toBe("unreachable");
    expect(h.s.store.vms.get(uuid(1))!.host).toBe("a");
  });

  it("after a restart, a host that does not report again shows when it last did, not never", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v1" }] });
    await h.report();
    const heardAt = h.clock.now();
    h.s.flush();
    // b stops reporting; an hour later the scheduler restarts and only a reports.
    h.agents.up.delete("b");
    h.clock.advance(3_600_000);
    await h.restart();
    await h.report();
    const hosts = HostsResponse.parse(await json(await get(h.url("/v1/hosts")))).hosts;
    const b = hosts.find((x) => x.id === "b")!;
    expect(b.state).toBe("unreachable");
    expect([b.lastReportMs, b.lastSeenMs]).toEqual([heardAt, heardAt]);
    // a reported to this scheduler: its own report's times, not the stored one.
    expect(hosts.find((x) => x.id === "a")!.lastSeenMs).toBe(h.clock.now());
  });

  it("a move the agent never received is not re-sent after a restart; it is closed as lost with where the VM is", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v1" }] });
    h.autoReport(50);
    await h.report();
    // A scheduler that died right after persisting "dispatched", before the send reached the agent.
    await h.s.shutdown();
    const st = Store.open({ path: join(h.dir, "drover.sqlite") });
    const now = h.clock.now();
    st.migrations.insert({
      id: "mig-lost",
      commandId: "cmd-mig-lost",
      planId: null,
      vmUuid: uuid(1),
      vmName: "v1",
      source: "a",
      destination: "b",
      requestedBy: "test",
      reason: "lost",
      createdMs: now,
    });
    st.migrations.update("mig-lost", { status: "dispatched", atMs: now });
    st.close();
    await h.restart();
    const after = h.s.store.migrations.get("mig-lost")!;
    expect(after.status).toBe("cancelled");
    expect(after.error?.code).toBe("command-lost");
    expect(after.error?.message).toMatch(/VM reported on a/);
    expect(h.agents.count("status")).toBe(1);
    expect(h.agents.count("migrate")).toBe(0);
    expect(h.s.dispatcher.isActive("mig-lost")).toBe(false);
  });
});
