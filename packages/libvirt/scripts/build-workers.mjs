// Compiles the two worker-thread entries (call-worker, event-worker) to plain ESM, once, so that
// worker threads start without a TypeScript loader: a tsx-loaded isolate costs ~25 MB and most
// of a second of CPU, and the binding runs one per thread. koffi stays external (native addon).
// `node scripts/build-workers.mjs [outdir]` (default: <package>/dist); does nothing when fresh.
// Also imported by bundlers of apps (host-agent), which put the workers next to their bundle.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isFresh, NODE_BUNDLE } from "../../../scripts/bundle-app.mjs";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WORKER_ENTRIES = ["call-worker", "event-worker"];
export const MANIFEST = "libvirt-workers.json";

export async function buildWorkers(outdir = join(PKG, "dist")) {
  const manifestPath = join(outdir, MANIFEST);
  if (await isFresh(manifestPath)) return false;
  const { build } = await import("esbuild");
  await mkdir(outdir, { recursive: true });
  // Taken before reading the sources: an edit during the build leaves the output stale, not fresh.
  const builtAtMs = Date.now();
  const r = await build({
    entryPoints: Object.fromEntries(WORKER_ENTRIES.map((e) => [`libvirt-${e}`, join(PKG, "src", "native", `${e}.ts`)])),
    outdir,
    ...NODE_BUNDLE,
    external: ["koffi"],
  });
  const inputs = Object.keys(r.metafile.inputs).map((f) => relative(outdir, resolve(f)));
  const outputs = WORKER_ENTRIES.map((e) => `libvirt-${e}.mjs`);
  await writeFile(manifestPath, `${JSON.stringify({ builtAtMs, inputs, outputs }, null, 1)}\n`);
  return true;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
  await buildWorkers(out);
}
