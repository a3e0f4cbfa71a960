// Drover with and without the seasonal forecaster in clean+ram mode with a realistic boot delay, on
// the three PlanetLab days played back to back (VM i of the run is VM i of each day, so the
// forecaster has seen a day when the second begins). Prints, beside the usual figures, the rounds
// in which a woken host was booting on their own: their share, the demand left unserved in them,
// and their SLAV. npm run bench:forecast-wakes -- [--boot-seconds 180]
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { DroverPolicy, fromSeries, loadPlanetLabDay, planetLabDays, simulate } from "../src/index.js";

const { values: args } = parseArgs({ options: { "boot-seconds": { type: "string", default: "180" } } });
const bootSeconds = Number(args["boot-seconds"]);
if (!(bootSeconds >= 0)) throw new Error(`--boot-seconds must be >= 0, got ${args["boot-seconds"]}`);

const days = planetLabDays.map((d) => loadPlanetLabDay(d));
const n = Math.min(...days.map((w) => w.names.length));
const series = Array.from({ length: n }, (_, v) =>
  days.flatMap((w) => Array.from({ length: w.stride - 1 }, (_, k) => Math.round((w.data[v * w.stride + k] as number) * 100))),
);
const workload = fromSeries(
  Array.from({ length: n }, (_, v) => `vm${v}`),
  series,
  { source: `PlanetLab ${planetLabDays.join("+")}`, intervalSeconds: 300 },
);

const t = new Table({
  head: [
    "forecaster",
    "energy kWh",
    "SLAV %",
    "migrations",
    "unserved %",
    "hosts",
    "wake rounds %",
    "unserved in wakes %",
    "SLAV in wakes %",
  ],
  style: { head: [], border: [] },
});
for (const forecaster of [false, true]) {
  const r = simulate({ workload, policy: new DroverPolicy({ forecaster }), mode: "clean+ram", bootSeconds });
  const w = r.wakeWindows;
  t.push([
    forecaster ? "seasonal" : "window only",
    r.energyKwh.toFixed(2),
    (r.slav * 100).toFixed(5),
    String(r.migrations),
    (r.unserved * 100).toFixed(3),
    r.activeHostsMean.toFixed(1),
    (w.roundShare * 100).toFixed(1),
    (w.unserved * 100).toFixed(3),
    (w.slav * 100).toFixed(5),
  ]);
}
process.stdout.write(`${workload.source}: ${n} VMs, 800 hosts, clean+ram, boot ${bootSeconds} s\n${t.toString()}\n`);
