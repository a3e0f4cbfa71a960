// Drover alone over the packed PlanetLab days in one mode, the fast loop for tuning the policy's
// band and forecast: each --profile and --config may be given several times and every pairing
// runs, so settings compare side by side. Prints energy, migrations, SLA and plan time per day
// and setting next to the FFD oracle (clean+ram enforces memory).
import { parseArgs } from "node:util";
import Table from "cli-table3";
import {
  DroverPolicy,
  benchmarkConfig,
  benchmarkProfile,
  ffdOracle,
  loadPlanetLabDay,
  modes,
  planetLabDays,
  simulate,
} from "../src/index.js";
import type { ClusterConfigInput, Profile } from "@drover/policy";
import type { Mode } from "../src/index.js";

const starts = ["first-fit", "pabfd"] as const;
const usage = `usage: node --import tsx packages/sim/bench/drover-days.ts [--mode clean] [--start first-fit] [--foresight] [--profile JSON]... [--config JSON]... [DAY...]
  --mode MODE      ${modes.join(" | ")} (default clean)
  --start HOW      how the cluster is found: ${starts.join(" | ")} (default first-fit; pabfd: as LR-MMT-1.2 places it)
  --profile JSON   the policy profile, e.g. '{"policies":[{"policy":"consolidate","args":{"band":{"low":0.6,"high":0.9}}}]}'
                   (default: the benchmark profile); repeat to compare several
  --config JSON    cluster configuration, e.g. '{"forecast":{"statistic":"last","trend":false}}'
                   (default: the benchmark config); repeat to compare several
  --foresight      give the policy each VM's true demand of the next interval as its newest sample
                   (analysis only: with {"statistic":"max","windowSamples":2} plans fit now and next)
  DAY              ${planetLabDays.join(", ")} (default: all)`;
const { values: args, positionals: days } = parseArgs({
  allowPositionals: true,
  options: {
    mode: { type: "string", default: "clean" },
    start: { type: "string", default: "first-fit" },
    profile: { type: "string", multiple: true },
    config: { type: "string", multiple: true },
    foresight: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!(modes as readonly string[]).includes(args.mode)) throw new Error(`--mode must be one of ${modes.join(", ")} (got ${args.mode})`);
const mode = args.mode as Mode;
if (!(starts as readonly string[]).includes(args.start)) throw new Error(`--start must be one of ${starts.join(", ")} (got ${args.start})`);
const start = args.start as (typeof starts)[number];

const json = (flag: string, text: string): object => {
  try {
    return JSON.parse(text) as object;
  } catch (e) {
    throw new Error(`--${flag} is not JSON (${(e as Error).message}): ${text}`);
  }
};
const profiles = (args.profile ?? []).map((p) => ({ label: p, value: { name: "drover", ...json("profile", p) } as Profile }));
const configs = (args.config ?? []).map((c) => ({ label: c, value: json("config", c) as ClusterConfigInput }));
if (profiles.length === 0) profiles.push({ label: "benchmark", value: benchmarkProfile });
if (configs.length === 0) configs.push({ label: "benchmark", value: benchmarkConfig });

const foresight = args.foresight;
const table = new Table({
  head: ["day", "profile", "config", "energy kWh", "/oracle", "migrations", "SLAV %", "SLATAH %", "hosts", "plan p50 ms", "run CPU s"],
  colAligns: ["left", "left", "left", "right", "right", "right", "right", "right", "right", "right", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
// Every day loads (or names the one that does not) before the first run.
const oracles: string[] = [];
const workloads = (days.length > 0 ? days : planetLabDays).map((day) => ({ day, workload: loadPlanetLabDay(day) }));
for (const { day, workload } of workloads) {
  const oracle = ffdOracle({ workload, mode });
  const ahead = ffdOracle({ workload, mode, lookahead: 1 });
  oracles.push(
    `${day}: FFD oracle ${oracle.energyKwh.toFixed(2)} kWh; fitting the next interval too ${(ahead.energyKwh / oracle.energyKwh).toFixed(3)}x it`,
  );
  for (const profile of profiles) {
    for (const config of configs) {
      const policy = new DroverPolicy({ profile: profile.value, config: config.value, foresight, start });
      const c0 = process.cpuUsage();
      const r = simulate({ workload, policy, mode });
      const cpu = process.cpuUsage(c0);
      const sorted = [...policy.planMs].sort((a, b) => a - b);
      table.push([
        day,
        profile.label,
        config.label,
        r.energyKwh.toFixed(2),
        (r.energyKwh / oracle.energyKwh).toFixed(3),
        String(r.migrations),
        (r.slav * 100).toFixed(5),
        (r.slatah * 100).toFixed(2),
        r.activeHostsMean.toFixed(1),
        (sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(2),
        ((cpu.user + cpu.system) / 1e6).toFixed(1),
      ]);
    }
  }
}
process.stdout.write(
  `Drover on PlanetLab, mode ${mode}, 800 hosts, ${start} start${foresight ? ", with foresight of the next interval" : ""}; /oracle = energy over the FFD oracle's\n` +
    `${table.toString()}\n${oracles.join("\n")}\n`,
);
