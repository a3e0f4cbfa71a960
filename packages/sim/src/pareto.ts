// Pareto dominance over costs where lower is better in every coordinate (energy over the oracle,
// SLAV, ...). The frontier bench uses it to say which baseline settings some Drover setting beats
// on every cost at once, so a claim of "better" never rests on one cost alone.
import { SimError, SimErrorCode } from "./errors.js";

/** One value per objective, lower is better in each. */
export type Costs = readonly number[];

function check(c: Costs, what: string): void {
  // A NaN compares false both ways and would sit on any frontier unbeaten: refuse it instead.
  if (c.length === 0 || c.some((x) => Number.isNaN(x)))
    throw new SimError(SimErrorCode.badOption, `${what}: costs must be numbers, got [${c.join(", ")}]`);
}

/** a is no worse than b in every cost and strictly better in one (equal costs: neither dominates). */
export function dominates(a: Costs, b: Costs): boolean {
  check(a, "dominates");
  check(b, "dominates");
  if (a.length !== b.length) throw new SimError(SimErrorCode.badOption, `dominates: ${a.length} costs against ${b.length}`);
  let strictly = false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x > y) return false;
    if (x < y) strictly = true;
  }
  return strictly;
}

/**
 * The items no other item dominates, by their first cost then the next. Items with equal costs are
 * all kept: a tie is not a defeat, and dropping one would hide a setting that is as good.
 */
export function paretoFrontier<T>(items: readonly T[], costs: (item: T) => Costs): T[] {
  const all = items.map((item) => ({ item, c: costs(item) }));
  const kept = all.filter((x) => !all.some((y) => y !== x && dominates(y.c, x.c)));
  const order = (a: Costs, b: Costs) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
    return 0;
  };
  return kept.sort((a, b) => order(a.c, b.c)).map((x) => x.item);
}

/** The items that dominate `target` (empty: nothing beats it on every cost). */
export function dominatorsOf<T>(items: readonly T[], costs: (item: T) => Costs, target: Costs): T[] {
  return items.filter((item) => dominates(costs(item), target));
}
