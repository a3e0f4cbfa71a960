import { z } from "zod";
import { describe, expect, it } from "vitest";
import { issuesOf, parseMessage, ValidationError } from "../src/index.js";

const Schema = z
  .object({
    migration: z
      .object({ bandwidthMiBs: z.number().default(1), timeoutMs: z.number().optional() })
      .strict()
      .prefault({}),
    hosts: z.array(z.object({ name: z.string(), port: z.number().optional() }).strict()).optional(),
    power: z.record(z.string(), z.object({ wake: z.string() }).strict()).optional(),
    window: z
      .object({ start: z.string(), end: z.string() })
      .strict()
      .transform((w) => `${w.start}-${w.end}`)
      .optional(),
    x: z.number().optional(),
  })
  .strict();

const issues = (input: unknown, withSchema = true) => {
  const r = Schema.safeParse(input);
  if (r.success) throw new Error("expected a rejection");
  return withSchema ? issuesOf(r.error, Schema) : issuesOf(r.error);
};

describe("issuesOf", () => {
  it("names each unknown key at the key itself, with the known key it is likely a typo of", () => {
    expect(issues({ migration: { bandwidthMibs: 3, timeotMs: 1 }, migraton: {} })).toEqual([
      { field: "migration.bandwidthMibs", message: 'unknown key (did you mean "bandwidthMiBs"?)' },
      { field: "migration.timeotMs", message: 'unknown key (did you mean "timeoutMs"?)' },
      { field: "migraton", message: 'unknown key (did you mean "migration"?)' },
    ]);
  });

  it("finds the known keys through arrays, records and transforms, and swapped letters", () => {
    expect(
      issues({ hosts: [{ name: "a" }, { nmae: "b" }], power: { kvm1: { wkae: "wol" } }, window: { start: "1", end: "2", ned: 1 } }),
    ).toEqual([
      { field: "hosts.1.name", message: "Invalid input: expected string, received undefined" },
      { field: "hosts.1.nmae", message: 'unknown key (did you mean "name"?)' },
      { field: "power.kvm1.wake", message: "Invalid input: expected string, received undefined" },
      { field: "power.kvm1.wkae", message: 'unknown key (did you mean "wake"?)' },
      { field: "window.ned", message: 'unknown key (did you mean "end"?)' },
    ]);
  });

  it("suggests nothing for a key unlike any, a one-letter key, or without the schema", () => {
    expect(issues({ quantum: 1, y: 2 })).toEqual([
      { field: "quantum", message: "unknown key" },
      { field: "y", message: "unknown key" },
    ]);
    expect(issues({ migraton: {} }, false)).toEqual([{ field: "migraton", message: "unknown key" }]);
  });

  it("is what parseMessage's error says", () => {
    expect(() => parseMessage(Schema, { migration: { bandwidthMibs: 3 } }, "settings")).toThrow(
      new ValidationError("settings", [{ field: "migration.bandwidthMibs", message: 'unknown key (did you mean "bandwidthMiBs"?)' }]),
    );
  });
});
