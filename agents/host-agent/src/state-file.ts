// The agent's own state files (command journal, lease fence): written so that a crash leaves the old
// file or the new one, never half of one; read only if whole, valid and this host's.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { z } from "zod";
import type { Logger } from "@drover/protocol";

/** Writes `body` to a temporary file, syncs it to disk, then renames it over `file`. */
export function writeStateFile(file: string, body: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, JSON.stringify(body));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * The file's content if it is valid and belongs to `host`; undefined if there is none. A damaged or
 * foreign file is never used: it is set aside for a person to read, and `what` is logged.
 */
export function readStateFile<S extends z.ZodType<{ host: string }>>(
  s: { file: string; host: string; log: Logger },
  schema: S,
  what: string,
): z.infer<S> | undefined {
  if (!existsSync(s.file)) return undefined;
  try {
    const parsed = schema.parse(JSON.parse(readFileSync(s.file, "utf8")));
    if (parsed.host !== s.host) throw new Error(`it belongs to host ${parsed.host}, not ${s.host}`);
    return parsed;
  } catch (e) {
    // A name no earlier set-aside file has: two in one millisecond must not overwrite each other.
    const base = `${s.file}.bad-${Date.now()}`;
    let aside = base;
    for (let n = 1; existsSync(aside); n++) aside = `${base}.${n}`;
    renameSync(s.file, aside);
    s.log.error({ file: s.file, movedTo: aside, err: e }, `${what} unreadable: set aside`);
    return undefined;
  }
}
