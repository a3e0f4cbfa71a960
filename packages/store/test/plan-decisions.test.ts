// Who approved or rejected a plan is kept with it, and shows in its history line.
import { describe, expect, it } from "vitest";
import { Store } from "../src/index.js";
import { plan, tempDir } from "./helpers.js";

describe("plan decisions", () => {
  it("keeps who approved or rejected a plan; a later status change keeps it; no one decided an expiry", () => {
    using dir = tempDir();
    using s = Store.open({ path: dir.file() });
    s.plans.insert(plan("p1", { createdMs: 100 }));
    s.plans.insert(plan("p2", { createdMs: 200 }));
    s.plans.insert(plan("p3", { createdMs: 300 }));
    s.plans.setStatus("p1", "approved", 110, "api:alice");
    s.plans.setStatus("p1", "applying", 120);
    s.plans.setStatus("p2", "rejected", 210, "api:bob");
    s.plans.setStatus("p3", "rejected", 310);
    expect([s.plans.get("p1")!.decidedBy, s.plans.get("p2")!.decidedBy, s.plans.get("p3")!.decidedBy]).toEqual([
      "api:alice",
      "api:bob",
      null,
    ]);
    expect(s.history({ kinds: ["plan"] }).map((e) => e.summary.replace(/^.*\[/, "["))).toEqual([
      "[scheduler]",
      "[scheduler, rejected by api:bob]",
      "[scheduler, approved by api:alice]",
    ]);
    expect(() => s.plans.setStatus("p3", "approved", 400, "api:carol")).toThrow(/rejected/);
    expect(() => s.plans.setStatus("p1", "done", 400, "")).toThrow(/by/);
  });
});
