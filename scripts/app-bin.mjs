// What a Drover bin runs: the bundle (dist/main.mjs, from scripts/bundle-app.mjs via `npm run build`
// or scripts/setup.sh) when it is newer than every source it was built from, plain Node with no
// TypeScript loader; otherwise (no build yet, or a source edited since) tsx and the TypeScript
// entry. Either way the program runs in the bin's process, so SIGTERM/SIGINT reach it.
// `fromSourceEnv` (e.g. DROVER_AGENT_FROM_SOURCE=1) forces the source.
import { fileURLToPath } from "node:url";
import { isFresh, MANIFEST } from "./bundle-app.mjs";

/** `pkgUrl`: the package's directory URL, ending in "/". */
export async function runApp(pkgUrl, fromSourceEnv) {
  const dist = new URL("dist/", pkgUrl);
  if (process.env[fromSourceEnv] !== "1" && (await isFresh(fileURLToPath(new URL(MANIFEST, dist))))) {
    await import(new URL("main.mjs", dist).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("src/main.ts", pkgUrl).href);
}
