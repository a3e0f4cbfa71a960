// Bundles the drover CLI into dist/main.mjs (scripts/bundle-app.mjs): every test and operator call
// of `drover` then starts without a TypeScript loader (tsx cost ~2 s of CPU a call, the bundle a
// fraction of it). Its modules keep their source URLs: @drover/lab spawns its own scripts and
// @drover/sim reads its packed days beside their sources. Does nothing when dist is newer than every input.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleApp } from "../../scripts/bundle-app.mjs";

await bundleApp({ pkgDir: resolve(dirname(fileURLToPath(import.meta.url)), ".."), sourceUrls: true });
