// A time given on a command line: an ISO 8601 date or date-time, or a duration ("90s", "30m",
// "2h", "1d") back from now (`history --since`) or ahead of it (a token's `--expires`).

import { MAX_EPOCH_MS } from "./common.js";

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** ISO forms only: Date.parse also takes forms like "1" or "Dec 5" that are easy to mistype. */
const ISO = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The time in ms since the epoch, or why the argument is none. */
export function timeArg(arg: string, nowMs: number, direction: "back" | "ahead"): { ms: number } | { error: string } {
  const d = /^(\d+)([smhd])$/.exec(arg.trim());
  if (d) {
    const span = Number(d[1]) * (UNITS_MS[d[2] as string] as number);
    const ms = direction === "back" ? nowMs - span : nowMs + span;
    if (ms < 0) return { error: "reaches before 1970" };
    if (!Number.isSafeInteger(ms) || ms > MAX_EPOCH_MS) return { error: "reaches past the last date JavaScript can hold" };
    return { ms };
  }
  const t = ISO.test(arg.trim()) ? Date.parse(arg) : NaN;
  if (!Number.isFinite(t) || t < 0)
    return {
      error: `is neither an ISO time (2026-12-05T04:00:00Z) nor a duration ${direction} (90s, 30m, 2h, 1d)`,
    };
  return { ms: t };
}
