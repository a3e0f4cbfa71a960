import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UniqueIds } from "../src/unique-ids.js";

describe("UniqueIds", () => {
  it("says an id was added before exactly when a Set says so", () => {
    // Short ids from a small alphabet collide in the table often; repeats are drawn from the list itself.
    const idsArb = fc
      .array(fc.string({ unit: fc.constantFrom("a", "b", "-", "0", "é"), maxLength: 4 }), { maxLength: 300 })
      .chain((xs) => fc.shuffledSubarray([...xs, ...xs.slice(0, 20)]));
    fc.assert(
      fc.property(idsArb, (ids) => {
        const mine = new UniqueIds(ids.length);
        const set = new Set<string>();
        for (const id of ids) {
          expect(mine.add(id)).toBe(!set.has(id));
          set.add(id);
        }
      }),
      { numRuns: 500 },
    );
  });
});
