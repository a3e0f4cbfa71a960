// What a Drover bin runs: the bundle (dist/main.mjs, from scripts/bundle-app.mjs via `npm run build`
// or scripts/setup.sh) when it is newer than every source it was built from, plain Node with no
// TypeScript loader; otherwise (no build yet, or a source edited since) tsx and the TypeScript
// entry. Either way the program runs in the bin's process, so SIGTERM/SIGINT reach it.
// `fromSourceEnv` (e.g. DROVER_AGENT_FROM_SOURCE=1) forces the source.
import { readFileSync, statSync } from "node:fs";

function bundleFresh(dist) {
  try {
    const m = JSON.parse(readFileSync(new URL("app-build.json", dist), "utf8"));
    for (const out of m.outputs) statSync(new URL(out, dist));
    return m.inputs.every((f) => statSync(new URL(f, dist)).mtimeMs <= m.builtAtMs);
  } catch {
    return false;
  }
}

/** `pkgUrl`: the package's directory URL, ending in "/". */
export async function runApp(pkgUrl, fromSourceEnv) {
  const dist = new URL("dist/", pkgUrl);
  if (process.env[fromSourceEnv] !== "1" && bundleFresh(dist)) {
    await import(new URL("main.mjs", dist).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("src/main.ts", pkgUrl).href);
}
