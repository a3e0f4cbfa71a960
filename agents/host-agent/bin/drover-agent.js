#!/usr/bin/env node
// Runs the compiled agent (dist/main.mjs, from `npm run build` / scripts/setup.sh) when it is newer
// than every source it was built from: plain Node, no TypeScript loader in the process. Otherwise
// (no build yet, or a source edited since) it registers tsx and runs the TypeScript entry, so an
// edit never runs stale code. Either way the agent runs in this process, so SIGTERM/SIGINT reach it.
import { readFileSync, statSync } from "node:fs";

function compiledFresh() {
  if (process.env.DROVER_AGENT_FROM_SOURCE === "1") return false;
  try {
    const dist = new URL("../dist/", import.meta.url);
    const m = JSON.parse(readFileSync(new URL("agent-build.json", dist), "utf8"));
    for (const out of m.outputs) statSync(new URL(out, dist));
    return m.inputs.every((f) => statSync(new URL(f, dist)).mtimeMs <= m.builtAtMs);
  } catch {
    return false;
  }
}

if (compiledFresh()) {
  await import("../dist/main.mjs");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/main.ts");
}
