// Energy/SLA trade-off on the packed PlanetLab days, clean mode: Drover across its consolidation
// band and forecast headroom (conservative to aggressive, the benchmark profile among them) against the CloudSim
// baselines across their parameters. One setting per policy says little, as each buys energy with
// SLAV; what matters is whether Drover's frontier lies below theirs, so for every baseline setting it
// prints whether some Drover setting is at least as good on energy/oracle, SLAV, migrations and
// unserved demand, and better on one.
// Each day ends with the issue's target check and where the gap to the oracle goes, split by a
// lookahead oracle and by Drover told the next interval (foresight, for that split only).
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import type { ClusterConfigInput, Profile } from "@drover/policy";
import {
  DroverPolicy,
  benchmarkConfig,
  benchmarkProfile,
  createPolicy,
  dominatorsOf,
  ffdOracle,
  fluidBound,
  loadPlanetLabDay,
  paretoFrontier,
  planetLabDays,
  simulate,
} from "../src/index.js";
import type { BoundResult, SimPolicy, Workload } from "../src/index.js";

const defaultOut = fileURLToPath(new URL("./frontier/", import.meta.url));
const usage = `usage: npm run bench:frontier -- [--days N] [--out DIR] [--json FILE]
  --days N      only the first N of the packed days (1..${planetLabDays.length}; default all: ${planetLabDays.join(", ")})
  --out DIR     where the SVG charts go, one per day (default packages/sim/bench/frontier/)
  --json FILE   also write every point, frontier and verdict to FILE as JSON`;

function fail(message: string): never {
  process.stderr.write(`bench:frontier: ${message}\n${usage}\n`);
  process.exit(2);
}
let parsed;
try {
  parsed = parseArgs({
    options: { days: { type: "string" }, out: { type: "string" }, json: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
} catch (e) {
  fail((e as Error).message);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const nDays = args.days === undefined ? planetLabDays.length : Number(args.days);
if (!Number.isInteger(nDays) || nDays < 1 || nDays > planetLabDays.length)
  fail(`--days must be an integer from 1 to ${planetLabDays.length} (got "${args.days}")`);
const outDir = resolve(args.out ?? defaultOut);
try {
  mkdirSync(outDir, { recursive: true });
} catch (e) {
  fail(`--out ${outDir}: cannot create the directory (${(e as Error).message})`);
}
// Checked now, not after minutes of simulation.
const jsonFile = args.json === undefined ? undefined : resolve(args.json);
if (jsonFile !== undefined && !statSync(dirname(jsonFile), { throwIfNoEntry: false })?.isDirectory())
  fail(`--json ${jsonFile}: directory ${dirname(jsonFile)} does not exist`);

interface Band {
  readonly low: number;
  readonly high: number;
  readonly target: number;
}
const consolidate = benchmarkProfile.policies.find((p) => p.policy === "consolidate");
const benchmarkBand = (consolidate?.args as { band?: Band } | undefined)?.band;
if (benchmarkBand?.target === undefined) throw new Error("benchmarkProfile has no consolidate band with a target: nothing to sweep");
// Low empties hosts, high relieves them, target is how full a destination is packed: all three move
// together from leaving room to packing tight. The benchmark band is added if it is not one of them.
const sweep: Band[] = [
  { low: 0.5, high: 0.8, target: 0.7 },
  { low: 0.6, high: 0.85, target: 0.8 },
  { low: 0.65, high: 0.9, target: 0.85 },
  { low: 0.75, high: 0.97, target: 0.92 },
  { low: 0.8, high: 1.0, target: 0.95 },
  { low: 0.85, high: 1.0, target: 1.0 },
  { low: 0.9, high: 1.0, target: 1.0 },
];
const same = (a: Band, b: Band) => a.low === b.low && a.high === b.high && a.target === b.target;
const bands = (sweep.some((b) => same(b, benchmarkBand)) ? sweep : [...sweep, benchmarkBand]).sort(
  (a, b) => a.low - b.low || a.high - b.high || a.target - b.target,
);
// The band sets how full hosts may run; the forecast sets how much headroom each keeps for what comes
// next. The benchmark's (max of the last 3 samples) stops paying below ~1.18x the oracle, so the
// sweep also runs every band on the last sample alone: less headroom, more energy saved, more SLAV.
// And on the mean of the last 2 hours: it barely migrates, which SLAV (SLATAH x PDM) rewards as
// much as keeping hosts out of overload; the unserved column shows what that leaves undone.
const forecasts: readonly { family: string; suffix: string; config: ClusterConfigInput }[] = [
  { family: "drover", suffix: "", config: benchmarkConfig },
  {
    family: "drover-last",
    suffix: " last",
    config: { ...benchmarkConfig, forecast: { ...benchmarkConfig.forecast, statistic: "last", windowSamples: 1 } },
  },
  {
    family: "drover-mean24",
    suffix: " mean24",
    config: { ...benchmarkConfig, forecast: { ...benchmarkConfig.forecast, statistic: "mean", windowSamples: 24 } },
  },
];
// For the gap split only: every band with the next interval's true demand in the history (a forecast
// no scheduler can have), planned on the max of now and next so each plan fits both. Not a setting:
// it is in no table, chart, frontier or verdict.
const foresightConfig: ClusterConfigInput = {
  ...benchmarkConfig,
  forecast: { ...benchmarkConfig.forecast, statistic: "max", windowSamples: 2 },
};
const isDrover = (family: string) => family.startsWith("drover");
const bandLabel = (b: Band, suffix: string) => `drover ${b.low.toFixed(2)}/${b.high.toFixed(2)}/${b.target.toFixed(2)}${suffix}`;
const withBand = (band: Band): Profile => ({
  ...benchmarkProfile,
  policies: benchmarkProfile.policies.map((p) => (p === consolidate ? { ...p, args: { ...(p.args as object), band } } : p)),
});
const baselines: Record<string, readonly number[]> = {
  "lr-mmt": [1.0, 1.1, 1.2, 1.3, 1.4],
  "thr-mmt": [0.7, 0.8, 0.9, 1.0],
  "iqr-mmt": [1.0, 1.5, 2.0],
  "mad-mmt": [2.0, 2.5, 3.0],
};

interface Point {
  readonly label: string;
  readonly family: string;
  /** Position along the sweep (Drover's line is drawn in this order). */
  readonly step: number;
  readonly benchmark: boolean;
  readonly energyKwh: number;
  /** Drawn on the start placement before the first plan. */
  readonly startKwh: number;
  readonly ratio: number;
  readonly slav: number;
  readonly migrations: number;
  /** Share of the requested CPU not served (overload and migrations). */
  readonly unserved: number;
}
/** The frontier drawn and printed: energy against SLAV. */
const costs = (p: Point) => [p.ratio, p.slav];
/**
 * A baseline is beaten only by a Drover setting no worse on every cost it reports: a point that
 * saved energy by leaving demand unserved or by migrating more would not count.
 */
const verdictCosts = (p: Point) => [p.ratio, p.slav, p.migrations, p.unserved];

// SLAV spans over three decades here: fixed decimals would print the conservative settings as equal.
const slavPct = (slav: number, unit = "%") => (slav * 100).toExponential(2) + unit;
const out = (s = "") => process.stdout.write(s + "\n");
const started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(0) + " s";

function run(policy: SimPolicy, family: string, step: number, benchmark: boolean, w: Workload, oracleKwh: number) {
  const r = simulate({ workload: w, policy, mode: "clean" });
  return {
    label: policy.name,
    family,
    step,
    benchmark,
    energyKwh: r.energyKwh,
    startKwh: r.energyBeforeFirstPlanKwh,
    ratio: r.energyKwh / oracleKwh,
    slav: r.slav,
    migrations: r.migrations,
    unserved: r.unserved,
  } satisfies Point;
}

function table(points: readonly Point[], frontier: readonly Point[], verdict: Map<Point, Point[]>): string {
  const t = new Table({
    head: ["setting", "energy kWh", "/oracle", "SLAV %", "migrations", "unserved %", "Pareto"],
    colAligns: ["left", "right", "right", "right", "right", "right", "left"],
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const p of points) {
    const dominators = verdict.get(p);
    const pareto =
      dominators === undefined
        ? frontier.includes(p)
          ? "on Drover's frontier"
          : "off the frontier"
        : dominators.length > 0
          ? `dominated by ${dominators.length} Drover`
          : "NOT dominated";
    t.push([
      p.label + (p.benchmark ? " (benchmark)" : ""),
      p.energyKwh.toFixed(2),
      p.ratio.toFixed(3),
      slavPct(p.slav, ""),
      String(p.migrations),
      (p.unserved * 100).toFixed(3),
      pareto,
    ]);
  }
  return t.toString();
}

/**
 * The issue's target point: energy <= 1.10x the oracle with SLAV and migrations at most a quarter of
 * LR-MMT-1.2's; else the least energy Drover reaches at that quarter. Unserved demand is shown beside
 * it against LR-MMT-1.2's, since SLAV alone can be bought by leaving demand unserved.
 */
function targetVerdict(drover: readonly Point[], lr: Point | undefined): string {
  if (lr === undefined) return "target: lr-mmt-1.2 not run";
  const quarter = withinLimits(drover, lr);
  const describe = (p: Point) =>
    `${p.label.replace("drover ", "")} (${p.ratio.toFixed(3)}, SLAV ${slavPct(p.slav)}, ${p.migrations} migrations, ` +
    `unserved ${(p.unserved / lr.unserved).toFixed(1)}x lr-mmt-1.2's)`;
  const met = quarter.filter((p) => p.ratio <= 1.1);
  // The same, among the settings that leave no more demand unserved than lr-mmt-1.2.
  const served = quarter.find((p) => p.unserved <= lr.unserved);
  const fair =
    served === undefined
      ? "; none of them serves as much demand as lr-mmt-1.2"
      : `; serving at least as much demand as lr-mmt-1.2: ${describe(served)}`;
  const best = quarter[0];
  if (met.length > 0)
    return `target (<= 1.10x the oracle at a quarter of lr-mmt-1.2's SLAV and migrations) met by ${met.map(describe).join(", ")}${fair}`;
  return best === undefined
    ? "target NOT met: no Drover setting has a quarter of lr-mmt-1.2's SLAV and migrations"
    : `target NOT met: at a quarter of lr-mmt-1.2's SLAV and migrations Drover's least energy is ${describe(best)}${fair}`;
}

/** The points with SLAV and migrations at most a quarter of `lr`'s (the target's limits), least energy first. */
function withinLimits(points: readonly Point[], lr: Point): Point[] {
  return points.filter((p) => p.slav <= lr.slav / 4 && p.migrations <= lr.migrations / 4).sort((a, b) => a.ratio - b.ratio);
}

/**
 * Where the gap to the oracle goes, at the least energy within the target's limits (serving as much
 * demand as `lr`): holding a placement through an interval (the lookahead oracle), the start (the
 * first interval, on the placement the day begins with, above the lookahead oracle's), packing with
 * a few moves a round (the best with foresight, less the start), and forecast error (the rest).
 */
function gapSplit(
  drover: readonly Point[],
  seeing: readonly Point[],
  lr: Point | undefined,
  oracle: BoundResult,
  ahead: BoundResult,
): string {
  if (lr === undefined) return "gap: lr-mmt-1.2 not run";
  const served = (p: Point) => p.unserved <= lr.unserved;
  const best = withinLimits(drover, lr).find(served);
  const seen = withinLimits(seeing, lr).find(served);
  if (best === undefined || seen === undefined) return "gap: no setting within the target's limits serves as much demand as lr-mmt-1.2";
  const lookahead = ahead.energyKwh / oracle.energyKwh;
  const start = (seen.startKwh - ahead.firstIntervalKwh) / oracle.energyKwh;
  return (
    `where the gap goes at ${best.ratio.toFixed(3)} (${best.label.replace("drover ", "")}): ${(lookahead - 1).toFixed(3)} holding a placement ` +
    `through an interval (the lookahead oracle), ${start.toFixed(3)} the start (the first interval, before any plan), ` +
    `${(seen.ratio - lookahead - start).toFixed(3)} packing with a few moves a round ` +
    `(told the next interval, Drover's best within the limits is ${seen.ratio.toFixed(3)}: ${seen.label.replace("drover ", "")}, ` +
    `${seen.migrations} migrations), ${(best.ratio - seen.ratio).toFixed(3)} forecast error`
  );
}

const families = [...forecasts.map((f) => f.family), ...Object.keys(baselines)];
/** Both panels share data and marks; only the y field and its scale differ. */
/** Vertical reference lines: the fluid bound (dashed) and the oracle that fits the next interval too (dotted). */
interface References {
  readonly fluid: number;
  readonly lookahead: number;
}
function panel(y: string, title: string, scale: object, refs: References, tagged: string): object {
  const x = { field: "ratio", type: "quantitative", title: "energy / FFD oracle", scale: { zero: false } };
  const fam = { field: "family", type: "nominal", title: "policy", scale: { domain: families } };
  const yEnc = { field: y, type: "quantitative", title, scale };
  return {
    width: 380,
    height: 300,
    layer: [
      { mark: { type: "rule", strokeDash: [4, 3], color: "#888" }, data: { values: [{ ratio: refs.fluid }] }, encoding: { x } },
      { mark: { type: "rule", strokeDash: [1, 2], color: "#888" }, data: { values: [{ ratio: refs.lookahead }] }, encoding: { x } },
      {
        transform: [{ filter: "indexof(datum.family, 'drover') === 0" }],
        mark: { type: "line" },
        encoding: { x, y: yEnc, order: { field: "step" }, color: fam },
      },
      { mark: { type: "point", size: 60, filled: true }, encoding: { x, y: yEnc, color: fam, shape: fam } },
      {
        transform: [{ filter: tagged }],
        mark: { type: "text", dx: 6, align: "left", fontSize: 8 },
        encoding: { x, y: yEnc, text: { field: "tag" } },
      },
    ],
  };
}

async function chart(day: string, points: readonly Point[], refs: References, file: string): Promise<void> {
  // A tag per point: the baselines' parameter, Drover's band (B = the benchmark's).
  const values = points.map((p) => ({
    ...p,
    slavPct: p.slav * 100,
    tag: isDrover(p.family) ? p.label.replace("drover ", "") + (p.benchmark ? " B" : "") : p.label.replace(`${p.family}-`, ""),
  }));
  // Log axes, unless a zero would fall off one.
  const logScale = (k: "slavPct" | "migrations", constant: number) =>
    values.every((v) => v[k] > 0) ? { type: "log" } : { type: "symlog", constant };
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `PlanetLab ${day}, clean, 800 hosts (dashed: fluid bound; dotted: oracle fitting the next interval too)`,
      anchor: "start",
    },
    background: "white",
    data: { values },
    hconcat: [
      panel("slavPct", "SLAV % (log)", logScale("slavPct", 1e-5), refs, "true"),
      // Drover's migrations barely move along its band, so its tags would sit on one another there.
      panel("migrations", "migrations (log)", logScale("migrations", 1), refs, "indexof(datum.family, 'drover') !== 0 || datum.benchmark"),
    ],
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  writeFileSync(file, await view.toSVG());
  view.finalize();
}

out(`Energy/SLA frontier on PlanetLab ${planetLabDays.slice(0, nDays).join(", ")}, mode clean, 800 hosts.`);
out(
  `Drover: consolidate band low/high/target swept, with the benchmark forecast (max of 3 samples), the last sample ("last") and the mean of 24 ("mean24"); baselines by parameter.`,
);
out(`A baseline is dominated when some Drover setting has energy/oracle, SLAV, migrations and unserved demand all <= , one strictly.\n`);
const report: unknown[] = [];
const svgs: string[] = [];
for (const day of planetLabDays.slice(0, nDays)) {
  const w = loadPlanetLabDay(day);
  const oracle = ffdOracle({ workload: w, mode: "clean" });
  const fluid = fluidBound({ workload: w, mode: "clean" });
  const ahead = ffdOracle({ workload: w, mode: "clean", lookahead: 1 });
  const drover = forecasts.flatMap((f) =>
    bands.map((band, i) =>
      run(
        new DroverPolicy({ name: bandLabel(band, f.suffix), profile: withBand(band), config: f.config }),
        f.family,
        i,
        f.config === benchmarkConfig && same(band, benchmarkBand),
        w,
        oracle.energyKwh,
      ),
    ),
  );
  const others = Object.entries(baselines).flatMap(([family, params]) =>
    params.map((x, i) => run(createPolicy(`${family}-${x.toFixed(1)}`), family, i, false, w, oracle.energyKwh)),
  );
  const seeing = bands.map((band, i) =>
    run(
      new DroverPolicy({ name: bandLabel(band, " foresight"), profile: withBand(band), config: foresightConfig, foresight: true }),
      "drover-foresight",
      i,
      false,
      w,
      oracle.energyKwh,
    ),
  );
  const lr = others.find((p) => p.label === "lr-mmt-1.2");
  const frontier = paretoFrontier(drover, costs);
  const verdict = new Map(others.map((b) => [b, dominatorsOf(drover, verdictCosts, verdictCosts(b))]));
  out(`== ${day}  (${w.names.length} VMs)  [${elapsed()}]`);
  out(
    `   FFD oracle ${oracle.energyKwh.toFixed(2)} kWh, fluid bound ${fluid.energyKwh.toFixed(2)} kWh ` +
      `(${(fluid.energyKwh / oracle.energyKwh).toFixed(3)} of the oracle); fitting the next interval too ` +
      `${ahead.energyKwh.toFixed(2)} kWh (${(ahead.energyKwh / oracle.energyKwh).toFixed(3)})`,
  );
  out(table([...drover, ...others], frontier, verdict));
  out(
    `   Drover's frontier: ${frontier.map((p) => `${p.label.replace("drover ", "")} (${p.ratio.toFixed(3)}, ${slavPct(p.slav)})`).join(", ")}`,
  );
  const free = others.filter((b) => verdict.get(b)?.length === 0);
  for (const b of others) {
    const by = verdict.get(b) ?? [];
    if (by.length > 0) out(`   ${b.label}: dominated by ${by.map((p) => p.label.replace("drover ", "")).join(", ")}`);
  }
  for (const b of free)
    out(
      `   ${b.label}: NOT dominated: no Drover setting has energy/oracle <= ${b.ratio.toFixed(3)}, SLAV <= ${slavPct(b.slav)}, ` +
        `migrations <= ${b.migrations} and unserved <= ${(b.unserved * 100).toFixed(3)}%`,
    );
  out(`   ${free.length === 0 ? "every baseline point is dominated" : `${free.length} of ${others.length} baseline points NOT dominated`}`);
  out(`   ${targetVerdict(drover, lr)}`);
  out(`   ${gapSplit(drover, seeing, lr, oracle, ahead)}\n`);
  const file = join(outDir, `frontier-${day}.svg`);
  await chart(
    day,
    [...drover, ...others],
    { fluid: fluid.energyKwh / oracle.energyKwh, lookahead: ahead.energyKwh / oracle.energyKwh },
    file,
  );
  svgs.push(file);
  report.push({
    day,
    vms: w.names.length,
    oracleKwh: oracle.energyKwh,
    fluidKwh: fluid.energyKwh,
    lookaheadOracleKwh: ahead.energyKwh,
    points: [...drover, ...others],
    foresight: seeing,
    frontier: frontier.map((p) => p.label),
    baselines: others.map((b) => ({ label: b.label, dominatedBy: (verdict.get(b) ?? []).map((p) => p.label) })),
  });
}
out(`charts: ${svgs.join(", ")}`);
out(`total ${elapsed()}`);
if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify({ mode: "clean", hosts: 800, days: report }, null, 2));
