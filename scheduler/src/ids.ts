import { randomBytes } from "node:crypto";

/** Sortable, unique ids usable as NATS subject tokens: <prefix>-<time base36>-<random>. */
export function newId(prefix: string, nowMs: number): string {
  return `${prefix}-${nowMs.toString(36)}-${randomBytes(5).toString("hex")}`;
}
