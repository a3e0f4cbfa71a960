// Packs PlanetLab day directories into data/planetlab-<day>.txt.br (text format: packSeries in
// src/traces.ts, then brotli), then checks that each packed day loads to exactly the numbers its
// directory gives. Where the traces come from: data/README.md.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { brotliCompressSync, constants } from "node:zlib";
import { loadPlanetLabDay, loadPlanetLabDir, packSeries, packedDayFile, planetLabDays, readPlanetLabDir } from "../src/traces.js";

const usage = `usage: node --import tsx packages/sim/scripts/pack-traces.ts --from DIR
  --from DIR   directory holding one directory per day (${planetLabDays.join(", ")}), one file per VM`;
const { values } = parseArgs({ options: { from: { type: "string" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!values.from) throw new Error(`--from DIR is required\n${usage}`);

for (const day of planetLabDays) {
  const dir = join(values.from, day);
  const text = packSeries(readPlanetLabDir(dir));
  const packed = brotliCompressSync(Buffer.from(text, "utf8"), {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_SIZE_HINT]: text.length },
  });
  writeFileSync(packedDayFile(day), packed);
  const want = loadPlanetLabDir(dir);
  const got = loadPlanetLabDay(day);
  const same =
    got.stride === want.stride &&
    got.names.length === want.names.length &&
    got.names.every((n, i) => n === want.names[i]) &&
    got.data.every((x, i) => x === want.data[i]);
  if (!same) throw new Error(`${day}: the packed traces do not load to the numbers of ${dir}`);
  process.stdout.write(`${day}: ${want.names.length} VMs, ${text.length} B of text, ${packed.length} B packed\n`);
}
