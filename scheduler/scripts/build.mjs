// Bundles the scheduler into dist/main.mjs (scripts/bundle-app.mjs), with the dashboard's files at
// dist/web/, where the bundle's web routes read them. Does nothing when dist is newer than every input.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleApp } from "../../scripts/bundle-app.mjs";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
await bundleApp({
  pkgDir: PKG,
  assets: ["index.html", "dashboard.js", "dashboard.css"].map((f) => ({ from: `src/api/web/${f}`, to: `web/${f}` })),
});
