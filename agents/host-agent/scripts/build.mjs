// Bundles the agent into dist/main.mjs (scripts/bundle-app.mjs), with @drover/libvirt's worker
// bundles next to it: the agent's libvirt calls run in worker threads that need no TypeScript
// loader either. `node scripts/build.mjs` does nothing when dist is newer than every input.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleApp } from "../../../scripts/bundle-app.mjs";
import { buildWorkers, MANIFEST as WORKERS } from "../../../packages/libvirt/scripts/build-workers.mjs";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
await bundleApp({
  pkgDir: PKG,
  extra: async (outdir) => {
    await buildWorkers(outdir);
    return [WORKERS];
  },
});
