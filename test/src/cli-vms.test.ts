// `drover vms` as a process against a real scheduler (in this process, on a real nats-server and
// SQLite file): a memory figure above what the guest was given can only be QEMU's resident memory
// (no balloon statistics), and the table marks it and says so once.
import { describe, expect, it } from "vitest";
import { harness } from "../../scheduler/test/harness.js";
import { uuid } from "../../scheduler/test/helpers.js";
import { drover } from "./helpers/api.js";

describe("drover vms", () => {
  it("marks a memory figure above the guest's own as the QEMU process's", { timeout: 120_000 }, async () => {
    // The test agent reports 256 MiB used for every guest.
    await using h = await harness(["a"], {
      a: [
        { uuid: uuid(1), name: "big", memoryMiB: 1024 },
        { uuid: uuid(2), name: "tiny", memoryMiB: 128 },
      ],
    });
    await h.report();
    const r = await drover(h.s.api.address, ["vms"], 60_000, { DROVER_TOKEN: h.token });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/│ big .*│ 256 MiB \/ 1024 MiB /);
    expect(r.stdout).toMatch(/│ tiny .*│ 256 MiB\* \/ 128 MiB /);
    expect(r.stdout.match(/^\* more than the guest was given: the QEMU process's resident memory/gm)).toHaveLength(1);
  });
});
