// Records what changed in the configuration since the last start, one row per top-level key,
// with secrets redacted, so the history shows who changed limits, modes or power settings.
import type { Json, Store } from "@drover/store";
import type { SchedulerConfig } from "./config.js";

// Keys that hold a secret itself; a key naming where one is (passwordEnv, passwordFile,
// credsFile, nkeySeedFile) is kept, so the history shows where secrets come from.
const SECRET_KEYS = new Set(["pass", "token", "password", "seed", "nkeySeed"]);

function redact(v: unknown): Json {
  if (Array.isArray(v)) return v.map(redact);
  if (v !== null && typeof v === "object") {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEYS.has(k) ? "(redacted)" : redact(x);
    return out;
  }
  return (v ?? null) as Json;
}

/** Returns the keys that changed (and were recorded). */
export function recordConfigChanges(store: Store, config: SchedulerConfig, nowMs: number, who = "config-file"): string[] {
  const changed: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const next = redact(value);
    const last = store.config.list({ key, limit: 1 })[0];
    const prev = last ? last.newValue : null;
    if (last && JSON.stringify(prev) === JSON.stringify(next)) continue;
    store.config.recordChange({ atMs: nowMs, who, key, oldValue: prev, newValue: next });
    changed.push(key);
  }
  return changed;
}
