import type { Logger } from "@drover/protocol";
import { Bus, type BusOptions } from "../src/index.js";
import type { NatsServer } from "../src/testing/index.js";

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps what it is given, so tests can check what was logged. */
export function memoryLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry["level"]) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export async function connectTo(server: NatsServer, extra: Partial<BusOptions> = {}): Promise<Bus> {
  return Bus.connect({
    servers: [server.url],
    name: "bus-test",
    logger: memoryLogger(),
    reconnectTimeWaitMs: 100,
    reconnectJitterMs: 50,
    ...extra,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
