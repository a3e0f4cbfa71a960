import { describe, expect, it } from "vitest";
import { SimError, dominates, dominatorsOf, paretoFrontier } from "../src/index.js";

interface P {
  readonly name: string;
  readonly energy: number;
  readonly slav: number;
}
const costs = (p: P) => [p.energy, p.slav];

// Shaped like a Drover sweep: denser settings cost SLAV; "mid" is beaten by "knee".
const drover: P[] = [
  { name: "aggressive", energy: 1.1, slav: 0.0009 },
  { name: "conservative", energy: 1.4, slav: 0.00005 },
  { name: "mid", energy: 1.3, slav: 0.0003 },
  { name: "knee", energy: 1.25, slav: 0.0001 },
];

describe("dominates", () => {
  it("needs no worse in every cost and better in one", () => {
    expect(dominates([1, 1], [2, 2])).toBe(true);
    expect(dominates([1, 2], [2, 2])).toBe(true);
    expect(dominates([2, 1], [1, 2])).toBe(false);
    expect(dominates([2, 2], [1, 1])).toBe(false);
  });

  it("a tie is not domination, either way", () => {
    expect(dominates([1.25, 0.0001], [1.25, 0.0001])).toBe(false);
  });

  it("refuses NaN and mismatched lengths rather than answering", () => {
    expect(() => dominates([Number.NaN, 1], [2, 2])).toThrow(SimError);
    expect(() => dominates([1, 1], [1])).toThrow(/2 costs against 1/);
  });
});

describe("paretoFrontier", () => {
  it("drops the point off the frontier and sorts by the first cost", () => {
    expect(paretoFrontier(drover, costs).map((p) => p.name)).toEqual(["aggressive", "knee", "conservative"]);
  });

  it("keeps both of two equal points", () => {
    const twin = { name: "knee twin", energy: 1.25, slav: 0.0001 };
    expect(paretoFrontier([...drover, twin], costs).map((p) => p.name)).toEqual(["aggressive", "knee", "knee twin", "conservative"]);
  });

  it("a point equal in one cost and worse in the other is dropped", () => {
    const worse = { name: "same energy, more SLAV", energy: 1.25, slav: 0.0002 };
    expect(paretoFrontier([...drover, worse], costs).map((p) => p.name)).not.toContain(worse.name);
  });

  it("is empty for no points", () => {
    expect(paretoFrontier([], costs)).toEqual([]);
  });
});

describe("dominatorsOf", () => {
  it("names the Drover points that beat a dominated baseline", () => {
    // LR-MMT-1.2-like: more energy and more SLAV than the knee and the conservative end.
    const lr = [1.35, 0.0004];
    expect(dominatorsOf(drover, costs, lr).map((p) => p.name)).toEqual(["mid", "knee"]);
  });

  it("finds none for a baseline below every Drover energy", () => {
    // THR-1.0-like: least energy of all, at a SLAV no Drover point reaches.
    expect(dominatorsOf(drover, costs, [1.05, 0.02])).toEqual([]);
  });

  it("finds none for a baseline that ties the knee exactly", () => {
    expect(dominatorsOf(drover, costs, [1.25, 0.0001])).toEqual([]);
  });

  it("counts a point equal in one cost and better in the other", () => {
    expect(dominatorsOf(drover, costs, [1.25, 0.00011]).map((p) => p.name)).toEqual(["knee"]);
  });
});
