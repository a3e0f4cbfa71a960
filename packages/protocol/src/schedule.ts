// The consolidation window: when consolidation packs the cluster (e.g. the night). Read from the
// scheduler's config file (policies.consolidate.window) and set at run time with
// `POST /v1/schedules/consolidate` (`drover schedule consolidate`): one schema for both.
import { z } from "zod";

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM (24 h)");
const day = "(mon|tue|wed|thu|fri|sat|sun)";

/** Days a window opens on: "*" or a list of mon..sun (ranges like mon-fri allowed). */
const days = z.string().regex(new RegExp(`^\\*$|^${day}(-${day})?(,${day}(-${day})?)*$`), "must be * or days like mon-fri,sun");

export const ConsolidationWindow = z
  .object({
    start: hhmm.describe("The window opens at this time of day (HH:MM, 24 h)."),
    end: hhmm.describe("The window closes at this time of day; an end before the start crosses midnight."),
    days: days.default("*").describe("Days the window opens on (the day of `start`): * or mon..sun, ranges allowed (mon-fri,sun)."),
    timezone: z.enum(["utc", "local"]).default("utc").describe("Whether start and end are UTC or the scheduler host's local time."),
    restoreBeforeEndMs: z
      .number()
      .int()
      .nonnegative()
      .default(30 * 60_000)
      .describe(
        "The window's last part, in which capacity is restored (the hosts Drover powered off woken, the load spread again). " +
          "Without a seasonal forecast (less than a day of load history) every such host is woken when it begins; with one, " +
          "each just in time for the forecast demand from then until just after the end, the others restoreMarginMs before the end.",
      ),
    restoreMarginMs: z
      .number()
      .int()
      .nonnegative()
      .default(5 * 60_000)
      .describe(
        "With a seasonal forecast: a restore wake is sent this much earlier than the host's expected wake (its measured p90, " +
          "or wakeTimeoutMs before one was measured) requires, and every host Drover powered off is woken this long before " +
          "the window ends at the latest.",
      ),
  })
  .strict();
export type ConsolidationWindow = z.output<typeof ConsolidationWindow>;

/** Policies whose schedule changes at run time. */
export const ScheduleKinds = ["consolidate"] as const;

/** `POST /v1/schedules/consolidate`: the whole window (keys left out take their defaults). */
export const ScheduleRequest = ConsolidationWindow;
export const SchedulesResponse = z.object({ schedules: z.object({ consolidate: ConsolidationWindow }) });
export type SchedulesResponse = z.infer<typeof SchedulesResponse>;
