import { describe, expect, it } from "vitest";
import { plan, validatePlan } from "../src/index.js";
import type { MigrateStep } from "../src/index.js";
import { host, NOW, snap, vm } from "./fixtures.js";

const moves = (p: ReturnType<typeof plan>) => p.steps.filter((s): s is MigrateStep => s.kind === "migrate");
const v = (libvirt: string, qemu: string) => ({ hypervisor: { libvirt, qemu } });

describe("hypervisor versions in planning", () => {
  it("never proposes a move to an older libvirt or QEMU; same or newer is fine", () => {
    const s = snap(
      [
        host("h1", { state: "draining", ...v("9.0.0", "7.2.22") }),
        host("old", { ...v("8.0.0", "6.2.0"), cpuCapacityMhz: 100_000 }),
        host("newer", v("10.0.0", "8.2.1")),
      ],
      [vm("a", "h1", 100), vm("b", "h1", 100)],
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(moves(p).map((m) => m.destinationHostId)).toEqual(["newer", "newer"]);
  });

  it("explains a VM left in place because every other host is older", () => {
    const s = snap([host("h1", { state: "draining", ...v("9.0.0", "7.2.22") }), host("h2", v("9.0.0", "7.2.0"))], [vm("a", "h1", 5)]);
    const p = plan(s, "drain", { nowMs: NOW });
    expect(moves(p)).toEqual([]);
    expect(p.notMoved.find((x) => x.vmId === "a")?.message).toMatch(/compat\.older-hypervisor/);
  });

  it("judges each pair of source and destination versions on its own within one plan", () => {
    // "mid" is older than a's host but newer than b's; only "mid" has b's bridge.
    const s = snap(
      [
        host("a-host", { state: "draining", ...v("9.0.0", "7.2.22") }),
        host("b-host", { state: "draining", ...v("8.0.0", "6.2.0") }),
        host("mid", { ...v("8.5.0", "7.0.0"), bridges: ["br0", "br9"] }),
        host("new", { ...v("10.0.0", "8.2.1"), bridges: ["br0"] }),
      ],
      [vm("a", "a-host", 100, { bridges: ["br0"] }), vm("b", "b-host", 100, { bridges: ["br9"] })],
    );
    const p = plan(s, "drain", { nowMs: NOW });
    expect(validatePlan(s, p)).toEqual([]);
    expect(Object.fromEntries(moves(p).map((m) => [m.vmId, m.destinationHostId]))).toEqual({ a: "new", b: "mid" });
  });

  it("compares nothing for a host without versions (the scheduler leaves them out when the cluster allows older)", () => {
    const s = snap([host("h1", { state: "draining", ...v("9.0.0", "7.2.22") }), host("h2")], [vm("a", "h1", 5)]);
    expect(moves(plan(s, "drain", { nowMs: NOW })).map((m) => m.destinationHostId)).toEqual(["h2"]);
  });
});
