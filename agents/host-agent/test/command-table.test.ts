import { describe, expect, it } from "vitest";
import { CommandTable } from "../src/command-table.js";

describe("command table", () => {
  const reply = (id: string) => ({
    v: 1 as const,
    id,
    host: "h1",
    kind: "migrate" as const,
    status: "accepted" as const,
    duplicate: false,
    error: null,
    timeMs: 1,
  });
  it("keeps the first reply per id and forgets the oldest beyond capacity", () => {
    const t = new CommandTable(2);
    expect(t.claim("a", reply("a"))).toBe(true);
    expect(t.claim("a", { ...reply("a"), status: "failed" })).toBe(false);
    expect(t.get("a")?.status).toBe("accepted");
    t.update("a", { status: "succeeded" });
    expect(t.get("a")?.status).toBe("succeeded");
    t.claim("b", reply("b"));
    t.claim("c", reply("c"));
    expect(t.get("a")).toBeUndefined();
    expect(t.size).toBe(2);
  });
});
