// PlanetLab benchmark: for every day and every mode, NPA, DVFS, LR-MMT-1.2, Drover, the fluid
// bound and the FFD oracle; then scaling runs on drawn traces. Days: the three packed in
// packages/sim/data, or every day directory of TRACES_DIR.
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import {
  DroverPolicy,
  boundRow,
  createPolicy,
  drawWorkload,
  ffdOracle,
  fluidBound,
  loadPlanetLabDay,
  loadPlanetLabDir,
  modes,
  outcomeColumns,
  planetLabDays,
  resultRow,
  rowCells,
  simulate,
} from "../src/index.js";
import type { Mode, OutcomeRow, Workload } from "../src/index.js";

const usage = `usage: npm run bench:planetlab -- [TRACES_DIR] [--days N] [--no-scaling] [--json FILE]
  TRACES_DIR     a directory of PlanetLab day directories (default: the days packed in packages/sim/data)
  --days N       only the first N days
  --no-scaling   skip the scaling runs (100 to 20,000 hosts on drawn traces)
  --json FILE    also write every row to FILE as JSON`;
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    days: { type: "string" },
    "no-scaling": { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (positionals.length > 1) throw new Error(`one TRACES_DIR at most, got ${positionals.length}: ${positionals.join(" ")}\n${usage}`);
const maxDays = args.days === undefined ? Infinity : Number(args.days);
if (args.days !== undefined && (!Number.isInteger(maxDays) || maxDays < 1))
  throw new Error(`--days must be a positive integer (got ${args.days})`);
const tracesDir = positionals[0] === undefined ? undefined : resolve(positionals[0]);

const out = (s = "") => process.stdout.write(s + "\n");
const started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(0) + " s";

let days: string[] = [...planetLabDays];
try {
  if (tracesDir)
    days = readdirSync(tracesDir)
      .filter((d) => statSync(join(tracesDir, d)).isDirectory())
      .sort();
} catch {
  process.stderr.write(`bench:planetlab: cannot read traces directory ${tracesDir}\n`);
  process.exit(2);
}
if (days.length === 0) {
  process.stderr.write(`bench:planetlab: no day directories in ${tracesDir}\n`);
  process.exit(2);
}
days = days.slice(0, maxDays);
const load = (day: string): Workload => (tracesDir ? loadPlanetLabDir(join(tracesDir, day)) : loadPlanetLabDay(day));

const report: { days: unknown[]; scaling: unknown[] } = { days: [], scaling: [] };
const policies = ["npa", "dvfs", "lr-mmt-1.2", "drover"] as const;

/** The outcome rows as a table: first column left-aligned, the figures right-aligned. */
function outcomeTable(rows: readonly OutcomeRow[]): string {
  const t = new Table({
    head: [...outcomeColumns],
    colAligns: outcomeColumns.map((_, i) => (i === 0 ? "left" : "right")),
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const r of rows) t.push(rowCells(r));
  return t.toString();
}

const timings: string[] = [];
function runTable(w: Workload, mode: Mode, hosts: number, names: readonly string[], skipped: string | null): OutcomeRow[] {
  const oracle = ffdOracle({ workload: w, mode, hosts });
  const fluid = fluidBound({ workload: w, mode, hosts });
  const rows: OutcomeRow[] = [];
  for (const p of names) {
    const policy = createPolicy(p);
    rows.push(resultRow(simulate({ workload: w, policy, mode, hosts }), oracle.energyKwh));
    if (policy instanceof DroverPolicy) {
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(0.95 * (xs.length - 1))] ?? 0;
      timings.push(
        `   drover per round: snapshot ${mean(policy.snapshotMs).toFixed(2)} ms + planProfile ${mean(policy.planMs).toFixed(2)} ms (p95 ${p95(policy.planMs).toFixed(2)} ms)`,
      );
    }
  }
  if (skipped)
    rows.push({
      ...boundRow(skipped, { energyKwh: Number.NaN, firstIntervalKwh: Number.NaN, activeHostsMean: Number.NaN, activeHostsMax: 0 }, null),
      note: "skipped: O(H^2) per round",
    });
  rows.push(boundRow("fluid bound", fluid, oracle.energyKwh));
  rows.push(boundRow("FFD oracle", oracle, oracle.energyKwh));
  return rows;
}

out(`PlanetLab benchmark: traces ${tracesDir ?? "packed in packages/sim/data"}, days ${days.join(", ")}, modes ${modes.join(", ")}`);
out("Energy kWh; /oracle = energy over the per-interval FFD oracle; SLATAH, PDM, SLAV as fractions in %;");
out("ESV = kWh x SLAV; hosts = mean active hosts per round; ms/round = mean policy decision time.\n");
for (const day of days) {
  const w = load(day);
  for (const mode of modes) {
    const rows = runTable(w, mode, 800, policies, null);
    out(`== ${day}  mode ${mode}  (800 hosts, ${w.names.length} VMs)  [${elapsed()}]`);
    out(outcomeTable(rows));
    for (const l of timings.splice(0)) out(l);
    const drover = rows.find((r) => r.policy === "drover");
    const lr = rows.find((r) => r.policy === "lr-mmt-1.2");
    if (drover && lr && lr.migrations && lr.slav) {
      out(
        `   drover vs lr-mmt-1.2: energy ${((drover.energyKwh / lr.energyKwh - 1) * 100).toFixed(1)}%, ` +
          `migrations x${((drover.migrations ?? 0) / lr.migrations).toFixed(3)}, SLAV x${((drover.slav ?? 0) / lr.slav).toFixed(3)}`,
      );
    }
    out();
    report.days.push({ day, mode, hosts: 800, vms: w.names.length, rows });
  }
}

if (!args["no-scaling"]) {
  const pool = days.map(load);
  const ratio = 1052 / 800;
  out(`== Scaling (mode clean, traces drawn with replacement from all days, seed 42, ${ratio.toFixed(3)} VMs per host)`);
  for (const hosts of [100, 800, 5000, 20_000]) {
    const vms = Math.round(hosts * ratio);
    const w = drawWorkload(pool, vms, 42);
    const cheap = hosts > 800;
    const names = cheap ? (["npa", "dvfs", "drover"] as const) : policies;
    const rows = runTable(w, "clean", hosts, names, cheap ? "lr-mmt-1.2" : null);
    out(`-- ${hosts} hosts, ${vms} VMs${cheap ? " (LR-MMT skipped: its underload step is O(H^2) per round)" : ""}  [${elapsed()}]`);
    out(outcomeTable(rows));
    for (const l of timings.splice(0)) out(l);
    out();
    report.scaling.push({ hosts, vms, mode: "clean", rows });
  }
}
out(`total ${elapsed()}`);
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
