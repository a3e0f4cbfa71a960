// Worker entry. Workers do not always inherit a TypeScript loader (e.g. under vitest), so load
// the .ts entry directly when one is active, and register tsx for this thread when it is not.
import { URL } from "node:url";
import { workerData } from "node:worker_threads";

const entry = new URL(`./${workerData.entry}.ts`, import.meta.url).href;
try {
  await import(entry);
} catch (e) {
  if (e?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw e;
  const { register } = await import("tsx/esm/api");
  register();
  await import(`${entry}?tsx`); // a new specifier: the failed import stays cached for the old one
}
