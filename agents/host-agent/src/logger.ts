import { destination, pino } from "pino";
import type { Logger } from "@drover/protocol";

/** The agent's pino logger (JSON lines on stderr, so stdout stays free for tools). */
export function createLogger(level: string, host: string): Logger {
  return pino({ name: "drover-agent", level, base: { host } }, destination(2));
}
