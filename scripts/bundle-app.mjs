// Bundles a Drover program (its src/main.ts, with the workspace packages it imports, which export
// TypeScript source) into <package>/dist/main.mjs, so that its bin runs with plain `node`: no
// TypeScript loader in the process (tsx costs most of a second of CPU at every start and ~30 MB).
// Third-party packages stay external and load from node_modules. A manifest lists every input and
// output; `bundleApp` does nothing while the outputs are newer than every input, and the bins
// (app-bin.mjs) run the bundle only then, so an edit never runs stale code.
import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const MANIFEST = "app-build.json";

/** True when the manifest at `manifestPath` is newer than every input it lists and every output exists. */
export async function isFresh(manifestPath) {
  try {
    const m = JSON.parse(await readFile(manifestPath, "utf8"));
    const dir = dirname(manifestPath);
    for (const out of m.outputs) await stat(join(dir, out));
    for (const f of m.inputs) if ((await stat(join(dir, f))).mtimeMs > m.builtAtMs) return false;
    return true;
  } catch {
    return false;
  }
}

/** esbuild's options for an ESM bundle Node 20 runs: every bundle of the repo starts from these. */
export const NODE_BUNDLE = {
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  metafile: true,
  logLevel: "warning",
  legalComments: "none",
};

/** Replaces `import.meta.url` in each of our TypeScript modules by that module's own file URL. */
const SOURCE_URLS = {
  name: "source-urls",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (a) => {
      if (a.path.includes("/node_modules/")) return undefined;
      const text = await readFile(a.path, "utf8");
      return { contents: text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(a.path).href)), loader: "ts" };
    });
  },
};

/**
 * `pkgDir`: the package; `assets`: files (relative to the package) copied into dist at the path the
 * bundle reads them from (dist/<to>); `extra(outdir)`: builds more outputs next to the bundle and
 * returns their names (e.g. @drover/libvirt's workers). `sourceUrls`: each of our modules keeps its
 * source file's `import.meta.url`, so what it finds beside itself (a package's data, scripts it
 * spawns) it finds where it is in the repo; the bundle then runs only where it was built. Returns
 * true when it built.
 */
export async function bundleApp({ pkgDir, assets = [], extra, sourceUrls = false }) {
  const outdir = join(pkgDir, "dist");
  const extraOutputs = extra ? await extra(outdir) : [];
  if (await isFresh(join(outdir, MANIFEST))) return false;
  const esbuild = await import("esbuild");
  await mkdir(outdir, { recursive: true });
  // Taken before reading the sources: an edit during the build leaves the output stale, not fresh.
  const builtAtMs = Date.now();
  const r = await esbuild.build({
    entryPoints: { main: join(pkgDir, "src", "main.ts") },
    outdir,
    ...NODE_BUNDLE,
    plugins: [
      {
        name: "workspace-only",
        setup(b) {
          // Bundle our own packages (TypeScript source); leave every other bare import to Node.
          b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith("@drover/") ? undefined : { external: true }));
        },
      },
      ...(sourceUrls ? [SOURCE_URLS] : []),
    ],
  });
  for (const a of assets) {
    await mkdir(join(outdir, a.to, ".."), { recursive: true });
    await copyFile(join(pkgDir, a.from), join(outdir, a.to));
  }
  const inputs = [...Object.keys(r.metafile.inputs).map((f) => resolve(f)), ...assets.map((a) => join(pkgDir, a.from))].map((f) =>
    relative(outdir, f),
  );
  const outputs = ["main.mjs", ...assets.map((a) => a.to), ...extraOutputs];
  await writeFile(join(outdir, MANIFEST), `${JSON.stringify({ builtAtMs, inputs, outputs }, null, 1)}\n`);
  return true;
}
