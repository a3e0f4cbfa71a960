// Cron-like daily windows ("22:00-06:00 on mon-fri"), evaluated on an injected clock.
import type { WindowConfig } from "./config.js";

const DAY = 86_400_000;
const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

export interface WindowState {
  active: boolean;
  /**
   * Capacity is being restored (consolidation stops, the load is spread again). From `windowAt`:
   * inside the last `restoreBeforeEndMs` of an open window, the fixed offset; `Modes.window()` gives
   * the restore's own decision, which a seasonal forecast times by demand (power/restore.ts).
   */
  restoring: boolean;
  openedMs: number | null;
  closesMs: number | null;
}

export function parseDays(spec: string): Set<number> {
  if (spec === "*") return new Set([0, 1, 2, 3, 4, 5, 6]);
  const out = new Set<number>();
  for (const part of spec.split(",")) {
    const [a, b] = part.split("-") as [string, string | undefined];
    const from = dayNames.indexOf(a as (typeof dayNames)[number]);
    const to = b === undefined ? from : dayNames.indexOf(b as (typeof dayNames)[number]);
    for (let d = from; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === to) break;
    }
  }
  return out;
}

const minutes = (hhmm: string): number => {
  const [h, m] = hhmm.split(":").map(Number) as [number, number];
  return h * 60 + m;
};

/** Midnight (in the window's timezone) of the day containing `ms`, and that day's weekday. */
function dayStart(ms: number, tz: "utc" | "local"): { start: number; weekday: number } {
  const d = new Date(ms);
  if (tz === "utc") {
    return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()), weekday: d.getUTCDay() };
  }
  return { start: new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime(), weekday: d.getDay() };
}

/** A time of day as HH:MM in the window's timezone, with the zone when it is UTC (for explanations). */
export function timeOfDay(ms: number, tz: "utc" | "local"): string {
  const d = new Date(ms);
  const [h, m] = tz === "utc" ? [d.getUTCHours(), d.getUTCMinutes()] : [d.getHours(), d.getMinutes()];
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}${tz === "utc" ? " UTC" : ""}`;
}

export function windowAt(cfg: WindowConfig, nowMs: number): WindowState {
  const days = parseDays(cfg.days);
  const open = minutes(cfg.start);
  let close = minutes(cfg.end);
  if (close <= open) close += 24 * 60;
  // A window that opened today or yesterday may contain now.
  for (const back of [0, 1]) {
    const { start, weekday } = dayStart(nowMs - back * DAY, cfg.timezone);
    if (!days.has(weekday)) continue;
    const openedMs = start + open * 60_000;
    const closesMs = start + close * 60_000;
    if (nowMs >= openedMs && nowMs < closesMs) {
      return { active: true, restoring: nowMs >= closesMs - cfg.restoreBeforeEndMs, openedMs, closesMs };
    }
  }
  return { active: false, restoring: false, openedMs: null, closesMs: null };
}
