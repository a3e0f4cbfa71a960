// Drover alone over PlanetLab days in one mode (fast loop for tuning the benchmark profile):
//   node --import tsx packages/sim/bench/drover-days.ts [--mode clean] [--profile JSON] [--config JSON] [DAY...]
// Prints energy, migrations, SLAV and plan CPU time per day next to the FFD oracle.
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DroverPolicy, benchmarkConfig, benchmarkProfile, ffdOracle, loadPlanetLabDir, simulate } from "../src/index.js";
import type { Mode } from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const tracesDir = resolve(here, "../../../../shared/planetlab");
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const mode = (flag("--mode") ?? "clean") as Mode;
const profileJson = flag("--profile");
const configJson = flag("--config");
const days = args.length > 0 ? args : readdirSync(tracesDir).sort();
for (const day of days) {
  const workload = loadPlanetLabDir(join(tracesDir, day));
  const policy = new DroverPolicy({
    profile: profileJson ? { name: "drover", ...JSON.parse(profileJson) } : benchmarkProfile,
    config: configJson ? JSON.parse(configJson) : benchmarkConfig,
  });
  const c0 = process.cpuUsage();
  const r = simulate({ workload, policy, mode });
  const cpu = process.cpuUsage(c0);
  const oracle = ffdOracle({ workload, mode });
  const sorted = [...policy.planMs].sort((a, b) => a - b);
  process.stdout.write(
    `${day} ${mode}: ${r.energyKwh.toFixed(2)} kWh (/oracle ${(r.energyKwh / oracle.energyKwh).toFixed(3)}), ${r.migrations} migrations, SLAV ${(r.slav * 100).toFixed(5)} %, ` +
      `hosts ${r.activeHostsMean.toFixed(1)}, plan p50 ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(2)} ms, run CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s\n`,
  );
}
