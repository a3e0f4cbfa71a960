import type { Logger } from "../common.js";

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string;
}

/**
 * A logger that keeps what it is given, so a test can check what was (and was not) logged.
 * `text()` is every line as one string, errors with their message and stack: where a secret must
 * never appear, that is what to search.
 */
export function memoryLogger(): Logger & { entries: LogEntry[]; text(): string } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry["level"]) =>
    (obj: object, msg = ""): void =>
      void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  const text = () =>
    entries
      .map(
        (e) =>
          `${e.level} ${e.msg} ${JSON.stringify(e.obj, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v))}`,
      )
      .join("\n");
  return { entries, text, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
