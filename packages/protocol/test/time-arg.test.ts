import { describe, expect, it } from "vitest";
import { timeArg } from "../src/index.js";

const NOW = Date.parse("2026-12-05T04:00:00Z");

describe("timeArg", () => {
  it("takes a duration back from now or ahead of it, and ISO times as they are", () => {
    expect(timeArg("90s", NOW, "back")).toEqual({ ms: NOW - 90_000 });
    expect(timeArg("2h", NOW, "ahead")).toEqual({ ms: NOW + 7_200_000 });
    expect(timeArg("90d", NOW, "ahead")).toEqual({ ms: NOW + 90 * 86_400_000 });
    expect(timeArg("2027-03-01T00:00:00Z", NOW, "ahead")).toEqual({ ms: Date.parse("2027-03-01T00:00:00Z") });
    expect(timeArg("2026-12-04", NOW, "back")).toEqual({ ms: Date.parse("2026-12-04") });
  });

  it("says why anything else is no time, in the direction asked", () => {
    expect(timeArg("soon", NOW, "ahead")).toEqual({ error: expect.stringMatching(/nor a duration ahead \(90s/) });
    expect(timeArg("Dec 5", NOW, "back")).toEqual({ error: expect.stringMatching(/nor a duration back/) });
    expect(timeArg("99999999999d", NOW, "back")).toEqual({ error: "reaches before 1970" });
    expect(timeArg("999999999999d", NOW, "ahead")).toEqual({ error: expect.stringMatching(/past the last date/) });
  });
});
