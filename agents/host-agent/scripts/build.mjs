// Bundles the agent (with the workspace packages it imports, which export TypeScript source) into
// dist/main.mjs, plus @drover/libvirt's worker bundles next to it, so that bin/drover-agent.js
// runs with plain `node`: no TypeScript loader in the process (tsx costs ~30 MB and a loader
// thread). Third-party packages stay external and load from node_modules as usual.
// `node scripts/build.mjs` does nothing when dist is newer than every input.
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildWorkers } from "../../../packages/libvirt/scripts/build-workers.mjs";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(PKG, "dist");
export const MANIFEST = join(OUT, "agent-build.json");

export async function isFresh() {
  try {
    const m = JSON.parse(await readFile(MANIFEST, "utf8"));
    for (const out of m.outputs) await stat(join(OUT, out));
    for (const f of m.inputs) if ((await stat(join(OUT, f))).mtimeMs > m.builtAtMs) return false;
    return true;
  } catch {
    return false;
  }
}

export async function build() {
  await buildWorkers(OUT);
  if (await isFresh()) return false;
  const esbuild = await import("esbuild");
  await mkdir(OUT, { recursive: true });
  const builtAtMs = Date.now();
  const r = await esbuild.build({
    entryPoints: { main: join(PKG, "src", "main.ts") },
    outdir: OUT,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    metafile: true,
    logLevel: "warning",
    legalComments: "none",
    plugins: [
      {
        name: "workspace-only",
        setup(b) {
          // Bundle our own packages (TypeScript source); leave every other bare import to Node.
          b.onResolve({ filter: /^[^./]/ }, (a) => (a.path.startsWith("@drover/") ? undefined : { external: true }));
        },
      },
    ],
  });
  const inputs = Object.keys(r.metafile.inputs).map((f) => relative(OUT, resolve(f)));
  await writeFile(MANIFEST, `${JSON.stringify({ builtAtMs, inputs, outputs: ["main.mjs", "libvirt-workers.json"] }, null, 1)}\n`);
  return true;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await build();
