// applyLimits keeps a byte per step index below the step count (a plan numbers its steps 0..n-1)
// and a Set for any other index: the same steps numbered otherwise (in the same order) must get
// the same decisions, whichever way their indices are kept.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyLimits, type LimitStep } from "../src/index.js";

const stepArb = fc.record({
  kind: fc.constantFrom("migrate", "migrate", "migrate", "power-off", "wake"),
  src: fc.integer({ min: 0, max: 3 }),
  dst: fc.integer({ min: 0, max: 3 }),
  group: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  deps: fc.array(fc.nat(), { maxLength: 2 }),
});

/** Steps numbered 0..n-1, each depending only on earlier ones. */
const stepsArb = fc.array(stepArb, { maxLength: 30 }).map((xs) =>
  xs.map((x, index): LimitStep => {
    const dependsOn = index === 0 ? [] : [...new Set(x.deps.map((d) => d % index))].sort((a, b) => a - b);
    if (x.kind !== "migrate") return { kind: x.kind as "power-off" | "wake", index, dependsOn };
    return {
      kind: "migrate",
      index,
      dependsOn,
      sourceHostId: `h${x.src}`,
      destinationHostId: `h${x.dst}`,
      ...(x.group === undefined ? {} : { group: `g${x.group}` }),
    };
  }),
);

const limitsArb = fc.record({
  perSource: fc.integer({ min: 1, max: 3 }),
  perDestination: fc.integer({ min: 1, max: 3 }),
  perCluster: fc.integer({ min: 1, max: 8 }),
});

/** Order-keeping renumberings that take indices out of the 0..n-1 range (fractions, large, mixed). */
const renumberings: [string, (i: number, n: number) => number][] = [
  ["large fractions", (i) => 1e9 + 2 * i + 0.5],
  ["half small, half large", (i, n) => (i < n / 2 ? i : 1e6 + i)],
  ["negative", (i, n) => i - n],
];

describe("applyLimits on any step numbering", () => {
  for (const [name, f] of renumberings) {
    it(`decides the same with indices renumbered (${name})`, () => {
      fc.assert(
        fc.property(stepsArb, limitsArb, (steps, limits) => {
          const n = steps.length;
          const at = (i: number) => f(i, n);
          const renumbered = steps.map((s) => ({ ...s, index: at(s.index), dependsOn: s.dependsOn.map(at) }));
          const plain = applyLimits(steps, [], limits);
          const other = applyLimits(renumbered, [], limits);
          expect(other.admitted.map((s) => s.index)).toEqual(plain.admitted.map((s) => at(s.index)));
          expect(other.deferred.map((d) => [d.step.index, d.code, d.message])).toEqual(
            plain.deferred.map((d) => [
              at(d.step.index),
              d.code,
              d.message.replace(/step (\d+)/, (_, k: string) => `step ${at(Number(k))}`),
            ]),
          );
        }),
        { numRuns: 300 },
      );
    });
  }
});
