// `drover history --since`: an ISO time or a duration back from now, anything else a usage error.
import { describe, expect, it } from "vitest";
import { sinceToMs } from "../src/commands/api.js";
import { CliError, ExitCode } from "../src/errors.js";

const NOW = Date.parse("2026-12-05T04:00:00Z");

describe("history --since", () => {
  it("takes durations back from now and ISO times", () => {
    expect(sinceToMs("90s", NOW)).toBe(NOW - 90_000);
    expect(sinceToMs("30m", NOW)).toBe(NOW - 30 * 60_000);
    expect(sinceToMs("2h", NOW)).toBe(NOW - 2 * 3_600_000);
    expect(sinceToMs("1d", NOW)).toBe(NOW - 86_400_000);
    expect(sinceToMs("2026-12-04T22:30:00Z", NOW)).toBe(Date.parse("2026-12-04T22:30:00Z"));
    expect(sinceToMs("2026-12-04T22:30:00+01:00", NOW)).toBe(Date.parse("2026-12-04T21:30:00Z"));
    expect(sinceToMs("2026-12-04", NOW)).toBe(Date.parse("2026-12-04"));
  });

  it("refuses anything else as a usage error that names the value", () => {
    for (const bad of ["yesterday", "2", "2 h", "-2h", "1.5h", "2w", "Dec 5", "2026-13-45", "", "99999999999d"]) {
      let err: unknown;
      try {
        sinceToMs(bad, NOW);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode, bad).toBe(ExitCode.Usage);
      expect((err as CliError).message, bad).toContain(`--since ${JSON.stringify(bad)}`);
    }
  });
});
