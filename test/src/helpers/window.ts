/** A consolidation window (UTC HH:MM) that is open now and for the next `aheadMin` minutes. */
export function windowAroundNow(
  behindMin = 60,
  aheadMin = 180,
): { start: string; end: string; timezone: "utc"; restoreBeforeEndMs: number } {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  const now = Date.now();
  return { start: hhmm(now - behindMin * 60_000), end: hhmm(now + aheadMin * 60_000), timezone: "utc", restoreBeforeEndMs: 60_000 };
}
