// Where worker threads start from. Preferred: the plain-JS bundles from scripts/build-workers.mjs,
// started with no execArgv, so a thread loads neither tsx nor any other loader the parent was
// started with (`node --import tsx` would otherwise be re-run in every worker: ~25 MB and most of
// a second of CPU per thread). When the bundles are missing or older than a source they were
// built from (an edit without a rebuild), threads start from the TypeScript through bootstrap.mjs,
// as before: slower and bigger, never stale.
//
// The bundles are looked up in "../dist/" from this module: packages/libvirt/dist when running
// from source, and <app>/dist when an app (host-agent) bundled this package into <app>/dist/x.mjs
// and put the worker bundles next to it.
import { readFileSync, statSync } from "node:fs";
import type { ResourceLimits, WorkerOptions } from "node:worker_threads";

export type WorkerEntry = "call-worker" | "event-worker";

/** Worker heaps: the ops move kilobytes (20 VMs of stats are ~100 KB of JS objects), so a small
 * young generation bounds RSS; the old-generation cap is only a backstop. */
const LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 48, stackSizeMb: 1 };

const distDir = new URL("../dist/", import.meta.url);
let compiled: boolean | null = null;

function compiledFresh(): boolean {
  try {
    const m = JSON.parse(readFileSync(new URL("libvirt-workers.json", distDir), "utf8")) as {
      builtAtMs: number;
      inputs: string[];
      outputs: string[];
    };
    for (const out of m.outputs) statSync(new URL(out, distDir));
    return m.inputs.every((f) => statSync(new URL(f, distDir)).mtimeMs <= m.builtAtMs);
  } catch {
    return false;
  }
}

/** True when threads start from the compiled bundles (decided once per process). */
export function usesCompiledWorkers(): boolean {
  compiled ??= process.env.DROVER_LIBVIRT_TS_WORKERS !== "1" && compiledFresh();
  return compiled;
}

/** The script and options for a new worker thread running `entry`. */
export function workerSpec(entry: WorkerEntry, opts: WorkerOptions = {}): { url: URL; options: WorkerOptions } {
  if (usesCompiledWorkers()) {
    return { url: new URL(`libvirt-${entry}.mjs`, distDir), options: { ...opts, execArgv: [], resourceLimits: LIMITS } };
  }
  const workerData = { ...(opts.workerData as object | undefined), entry };
  return { url: new URL("./native/bootstrap.mjs", import.meta.url), options: { ...opts, workerData, resourceLimits: LIMITS } };
}
