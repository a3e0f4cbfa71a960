// The plan's per-VM strategy and copy-storage reach the agent: what the dispatcher puts in the
// preflight and migrate commands it sends (fake agents on a real nats-server, real SQLite).
import { describe, expect, it } from "vitest";
import { VmReport, type Command } from "@drover/protocol";
import { vmReport, type VmReportInput } from "@drover/protocol/testing";
import { migrateOptions } from "../src/migrations/follow-up.js";
import { MovePredictor } from "../src/prediction.js";
import { harness, post } from "./harness.js";
import { uuid } from "./helpers.js";

const LOCAL = {
  target: "vdb",
  path: "/var/lib/libvirt/images/data.qcow2",
  cacheMode: "none" as const,
  shared: false,
  allocationBytes: 1 << 30,
};
const SHARED = (name: string) => ({ target: "vda", path: `/var/lib/drover/${name}.qcow2`, cacheMode: "none" as const, shared: true });

type Migrate = Command & { kind: "migrate" };
type Preflight = Command & { kind: "preflight" };

describe("strategies reach the agent", () => {
  it("never sends a VM with a local disk as a shared-storage move: preflight and migrate both say copy-storage", async () => {
    await using h = await harness(["a", "b"], {
      a: [
        { uuid: uuid(1), name: "local", disks: [SHARED("local"), LOCAL] },
        { uuid: uuid(2), name: "shared", disks: [SHARED("shared")] },
      ],
    });
    await h.report();
    const ids = ["local", "shared"].map(
      (vm) => h.s.dispatcher.submit({ vm, destination: "b", requestedBy: "test", reason: "copy-storage" }).id,
    );
    for (const id of ids) {
      await expect
        .poll(() => h.s.store.migrations.get(id)!.status, { timeout: 15_000, interval: 20, message: `${id} moved` })
        .toBe("succeeded");
    }
    const migrate = (vm: string) => h.agents.received.find((c): c is Migrate => c.kind === "migrate" && c.vm === vm)!;
    const preflight = (vm: string) => h.agents.received.find((c): c is Preflight => c.kind === "preflight" && c.vm === vm)!;
    expect(migrate(uuid(1)).options.copyStorage).toBe(true);
    expect(preflight(uuid(1)).copyStorage).toBe(true);
    expect(migrate(uuid(2)).options.copyStorage).toBe(false);
    expect(preflight(uuid(2)).copyStorage).toBe(false);
    // The copied gibibyte is charged: the local-disk VM's move is predicted longer than the other's.
    const [local, shared] = ids.map((id) => h.s.store.migrations.get(id)!.predictedDurationMs!);
    expect(local).toBeGreaterThan(shared! + 1000);
  });

  it("copies a disk on a shared mount the destination does not have", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v" }] });
    // b mounts another NFS export at the same path: the same path, not the same storage.
    h.agents.storage.set("b", [{ path: "/var/lib/drover", fsType: "nfs", shared: true, source: "other:/vms" }]);
    h.agents.storage.set("a", [{ path: "/var/lib/drover", fsType: "nfs", shared: true, source: "nas:/vms" }]);
    await h.report();
    const m = h.s.dispatcher.submit({ vm: "v", destination: "b", requestedBy: "test", reason: "other export" });
    await expect.poll(() => h.s.store.migrations.get(m.id)!.status, { timeout: 15_000, interval: 20 }).toBe("succeeded");
    expect(h.agents.received.find((c): c is Migrate => c.kind === "migrate")!.options.copyStorage).toBe(true);
  });

  it("drains a host's local-disk VMs too, each with copy-storage", async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "v", disks: [SHARED("v"), LOCAL] }] });
    h.autoReport();
    await h.report();
    expect((await post(h.url("/v1/hosts/a/drain"), {})).status).toBe(202);
    await expect
      .poll(() => h.agents.received.find((c): c is Migrate => c.kind === "migrate" && c.vm === uuid(1))?.options.copyStorage, {
        timeout: 15_000,
        interval: 20,
        message: "the drain's move of v",
      })
      .toBe(true);
    // Ended before the harness stops (the fake agent then moves the VM).
    await expect.poll(() => h.agents.vms.get(uuid(1))?.host, { timeout: 15_000, interval: 20 }).toBe("b");
  });

  it("turns each strategy into the options the agent carries out", async () => {
    await using h = await harness(["a"], {}, { migration: { allowPostCopy: true } });
    const cfg = h.s.config;
    const vm = (tags: string[]) => VmReport.parse(vmReport(1, { tags }));
    const postCopyVm = vm(["drover:post-copy"]);
    const plain = vm([]);

    expect(migrateOptions(cfg, "live", plain, false)).toMatchObject({
      offline: false,
      autoConverge: false,
      postCopyAfterFirstPass: false,
      copyStorage: false,
    });
    expect(migrateOptions(cfg, "live-auto-converge", plain, false)).toMatchObject({ autoConverge: true, offline: false });
    expect(migrateOptions(cfg, "pause-and-copy", plain, true)).toMatchObject({
      offline: true,
      copyStorage: true,
      postCopyAfterFirstPass: false,
    });
    expect(migrateOptions(cfg, "post-copy", postCopyVm, false)).toMatchObject({
      allowPostCopy: true,
      postCopyAfterFirstPass: true,
      offline: false,
    });
    // Post-copy only where the VM's tag and the config both allow it.
    expect(migrateOptions(cfg, "post-copy", plain, false)).toMatchObject({ allowPostCopy: false, postCopyAfterFirstPass: false });
    const off = { ...cfg, migration: { ...cfg.migration, allowPostCopy: false } };
    expect(migrateOptions(off, "post-copy", postCopyVm, false)).toMatchObject({ allowPostCopy: false, postCopyAfterFirstPass: false });
    // Allowed in the domain's metadata (`<drover:rules post-copy="yes">`) as by the tag: the
    // planner priced it with post-copy, so the command must allow it too.
    const byXml = VmReport.parse(vmReport(1, { rules: { postCopy: true } }));
    expect(migrateOptions(cfg, "post-copy", byXml, false)).toMatchObject({ allowPostCopy: true, postCopyAfterFirstPass: true });
    // A VM live pre-copy cannot keep up with: the prediction may choose post-copy for it either way.
    const predictor = new MovePredictor(cfg);
    const busy = (over: Partial<VmReportInput>) =>
      VmReport.parse(vmReport(1, { memoryMiB: 16_384, memoryUsedMiB: 16_000, dirtyRateMiBs: 4000, ...over }));
    expect(predictor.predict(busy({ tags: ["drover:post-copy"] }))?.strategy).toBe("post-copy");
    expect(predictor.predict(busy({ rules: { postCopy: true } }))?.strategy).toBe("post-copy");
    expect(predictor.predict(busy({}))?.strategy).not.toBe("post-copy");
    // No prediction (an operator's move the model could not price): a plain live move.
    expect(migrateOptions(cfg, null, plain, false)).toMatchObject({ offline: false, autoConverge: false, postCopyAfterFirstPass: false });
  });
});
