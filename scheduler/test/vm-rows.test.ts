import { describe, expect, it } from "vitest";
import type { VmSeenRow } from "@drover/store";
import { SEEN_REFRESH_MS, VmRowWriter } from "../src/vm-rows.js";

const row = (over: Partial<VmSeenRow> = {}): VmSeenRow => ({
  uuid: "00000000-0000-4000-8000-000000000001",
  name: "vm1",
  host: "h1",
  state: "running",
  memoryMiB: 1024,
  vcpus: 2,
  tags: ["web"],
  lastSeenMs: 1_000_000,
  ...over,
});

describe("VmRowWriter", () => {
  it("writes a guest once, then again only when its row would say something new", () => {
    const w = new VmRowWriter();
    expect(w.due([row()])).toHaveLength(1);
    w.committed([row()], 1_000_000);
    expect(w.due([row({ lastSeenMs: 1_005_000 })])).toEqual([]);
    for (const change of [{ host: "h2" }, { name: "vm1b" }, { state: "paused" }, { memoryMiB: 2048 }, { vcpus: 4 }, { tags: ["db"] }]) {
      expect(w.due([row({ ...change, lastSeenMs: 1_005_000 })]), JSON.stringify(change)).toHaveLength(1);
    }
    expect(w.due([row({ lastSeenMs: 1_000_000 + SEEN_REFRESH_MS })])).toHaveLength(1);
  });

  it("a batch that was not committed, or a forgotten guest, is written again", () => {
    const w = new VmRowWriter();
    expect(w.due([row()])).toHaveLength(1);
    expect(w.due([row()])).toHaveLength(1); // no committed(): the transaction rolled back
    w.committed([row()], 1_000_000);
    w.forget(row().uuid);
    expect(w.due([row()])).toHaveLength(1);
  });
});
