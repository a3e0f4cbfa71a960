import { describe, expect, it } from "vitest";
import { harness } from "./harness.js";
import { uuid } from "./helpers.js";

const one = { a: [{ uuid: uuid(1), name: "v0" }] };

describe("abort (drover abort MOVE)", () => {
  it("a running move is aborted by its source agent and ends aborted naming who asked; the VM stays", async () => {
    await using h = await harness(["a", "b"], one, { migration: { allowOlderHypervisor: true } });
    h.agents.behaviour = { migrate: "hold", abortEnds: true };
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "abort" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("running");
    // The preflight carried what the scheduler holds of the destination, and the cluster's version rule.
    const pf = h.agents.received.find((c) => c.kind === "preflight");
    expect(pf).toMatchObject({ destinationFacts: { host: "b", cluster: expect.any(String) }, allowOlderHypervisor: true });

    await h.s.dispatcher.abort(m.id, "alice");
    expect(h.agents.count("abort")).toBe(1);
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("aborted");
    expect(h.s.store.migrations.get(m.id)!.error).toEqual({
      code: "aborted-by-operator",
      message: "aborted at the request of alice: aborted (abort command): operation aborted",
    });
    expect(h.s.state.vm("v0")!.host).toBe("a");
    await expect(h.s.dispatcher.abort(m.id, "alice")).rejects.toThrow(/is aborted: nothing to abort/);
    await expect(h.s.dispatcher.abort("mig-nope", "alice")).rejects.toThrow(/no migration "mig-nope"/);
  });

  it("a move not sent yet is cancelled without any command to an agent", async () => {
    await using h = await harness(
      ["a", "b"],
      {
        a: [
          { uuid: uuid(1), name: "v0" },
          { uuid: uuid(2), name: "v1" },
        ],
      },
      { limits: { perSource: 1 } },
    );
    h.agents.behaviour = { migrate: "hold", abortEnds: true };
    await h.report();
    const first = h.s.dispatcher.submit({ vm: "v0", destination: "b", requestedBy: "test", reason: "runs" });
    const queued = h.s.dispatcher.submit({ vm: "v1", destination: "b", requestedBy: "test", reason: "waits" });
    await expect.poll(() => h.s.store.migrations.get(first.id)!.status, { timeout: 15_000, interval: 20 }).toBe("running");
    expect(h.s.store.migrations.get(queued.id)!.status).toBe("pending");
    const row = await h.s.dispatcher.abort(queued.id, "bob");
    expect(row.status).toBe("cancelled");
    expect(row.error).toEqual({ code: "aborted-by-operator", message: "cancelled at the request of bob before it was sent" });
    expect(h.agents.count("abort")).toBe(0);
    expect(h.agents.received.filter((c) => c.kind === "preflight" && c.vm === uuid(2))).toEqual([]);
  });
});
