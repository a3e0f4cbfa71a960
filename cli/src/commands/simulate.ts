// `drover simulate`: replay CPU traces (a PlanetLab day directory or a CSV of per-VM series)
// through named policies in the simulator and print the outcome table, or `--json` (the shape is
// documented in packages/sim/README.md and is stable).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Option } from "commander";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import Table from "cli-table3";
import { parseClusterConfig, parseProfile } from "@drover/policy";
import type { ClusterConfigInput, Profile } from "@drover/policy";
import {
  boundRow,
  createPolicy,
  ffdOracle,
  fluidBound,
  loadTraces,
  modes,
  outcomeColumns,
  resultRow,
  rowCells,
  simPolicyNames,
  simulate,
} from "@drover/sim";
import type { Mode, SimulationResult } from "@drover/sim";
import { simulateHistory } from "./simulate-history.js";

export interface SimulateOptions {
  traces?: string;
  fromHistory?: boolean;
  since: string;
  policy: string;
  mode: Mode;
  hosts: string;
  bootSeconds: string;
  profile?: string;
  config?: string;
  bounds: boolean;
  progress: boolean;
  json?: boolean;
}

function readJson(cmd: Command, path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch (err) {
    return cmd.error(`drover simulate: cannot read ${what} ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      exitCode: 2,
      code: "drover.simulate.usage",
    });
  }
}

function positiveInt(cmd: Command, v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    cmd.error(`drover simulate: ${what} must be a positive integer, got "${v}"`, { exitCode: 2, code: "drover.simulate.usage" });
  return n;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command("simulate")
    .description("replay CPU traces through a policy in the simulator and print energy, SLA and migration figures")
    .option("--traces <path>", "PlanetLab day directory (one VM per file) or CSV (header of VM names, one row per 300 s sample)")
    .option(
      "--from-history",
      "replay the load this cluster recorded (the scheduler's API) instead of --traces, beside what really happened",
    )
    .option("--since <when>", "--from-history: from this ISO time or this long ago (2h, 1d, 7d)", "7d")
    .option(
      "--policy <names>",
      `policy, or a comma-separated list: ${simPolicyNames.join(", ")}, <thr|iqr|mad|lr|lrr>-mmt-<param>`,
      "drover",
    )
    .addOption(
      new Option("--mode <mode>", "compat = CloudSim 3.0 quirks; clean = fixed; clean+ram = also VM memory and host boot")
        .choices([...modes])
        .default("clean"),
    )
    .option("--hosts <n>", "number of hosts (alternating HP ML110 G4 / G5)", "800")
    .option("--boot-seconds <s>", "clean+ram: seconds a woken host takes to boot", "60")
    .option("--profile <file>", "drover: JSON profile to run (policies and their args), as the scheduler would")
    .option("--config <file>", "drover: JSON cluster configuration (forecast, cool-downs, capacity, ...)")
    .option("--no-bounds", "skip the fluid bound and the FFD oracle")
    .option("--no-progress", "no progress bar")
    .option("--json", "print the stable JSON document instead of the table")
    .action(async (opts: SimulateOptions, cmd: Command) => {
      const json = opts.json === true || (cmd.optsWithGlobals() as { json?: boolean }).json === true;
      if ((opts.traces === undefined) === (opts.fromHistory !== true))
        cmd.error("drover simulate: give --traces <path> or --from-history (one of them)", { exitCode: 2, code: "drover.simulate.usage" });
      const hosts = positiveInt(cmd, opts.hosts, "--hosts");
      const bootSeconds = Number(opts.bootSeconds);
      if (!(bootSeconds >= 0))
        cmd.error(`drover simulate: --boot-seconds must be >= 0, got "${opts.bootSeconds}"`, {
          exitCode: 2,
          code: "drover.simulate.usage",
        });
      let profile: Profile | undefined;
      let config: ClusterConfigInput | undefined;
      try {
        if (opts.profile) profile = parseProfile(readJson(cmd, opts.profile, "profile"));
        if (opts.config) {
          const raw = readJson(cmd, opts.config, "config") as ClusterConfigInput;
          parseClusterConfig(raw);
          config = raw;
        }
      } catch (err) {
        cmd.error(`drover simulate: ${err instanceof Error ? err.message : String(err)}`, { exitCode: 2, code: "drover.simulate.usage" });
      }
      const names = opts.policy
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      let policies;
      try {
        // A recorded host is one processing element of its whole MHz (fromHistory): no per-core speed models.
        const history = opts.fromHistory ? { coreSpeedModels: false } : {};
        policies = names.map((n) => createPolicy(n, { ...(profile ? { profile } : {}), ...(config ? { config } : {}), ...history }));
      } catch (err) {
        return cmd.error(`drover simulate: ${err instanceof Error ? err.message : String(err)}`, {
          exitCode: 2,
          code: "drover.simulate.usage",
        });
      }
      if (opts.fromHistory) return simulateHistory(cmd, { ...opts, json }, policies);
      const workload = loadTraces(resolve(opts.traces!));
      const rounds = workload.stride - 2;
      const bar =
        opts.progress && process.stderr.isTTY
          ? new cliProgress.SingleBar(
              { format: "{policy} [{bar}] {value}/{total} rounds", stream: process.stderr, hideCursor: true },
              cliProgress.Presets.shades_classic,
            )
          : null;
      const results: SimulationResult[] = [];
      for (const policy of policies) {
        bar?.start(rounds, 0, { policy: policy.name.padEnd(12) });
        results.push(simulate({ workload, policy, mode: opts.mode, hosts, bootSeconds, onRound: (r) => bar?.update(r) }));
        bar?.stop();
      }
      const oracle = opts.bounds ? ffdOracle({ workload, mode: opts.mode, hosts }) : null;
      const fluid = opts.bounds ? fluidBound({ workload, mode: opts.mode, hosts }) : null;
      if (json) {
        const doc = {
          version: 1,
          traces: workload.source,
          mode: opts.mode,
          hosts,
          vms: workload.names.length,
          rounds: results[0]?.rounds ?? 0,
          results: results.map((r) => ({ ...r, ratioToOracle: oracle ? r.energyKwh / oracle.energyKwh : null })),
          bounds:
            oracle && fluid
              ? { fluidKwh: fluid.energyKwh, oracleKwh: oracle.energyKwh, oracleActiveHostsMean: oracle.activeHostsMean }
              : null,
        };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        return;
      }
      const rows = results.map((r) => resultRow(r, oracle?.energyKwh ?? null));
      if (fluid && oracle) rows.push(boundRow("fluid bound", fluid, oracle.energyKwh), boundRow("FFD oracle", oracle, oracle.energyKwh));
      const t = new Table({ head: [...outcomeColumns], style: { head: [], border: [] } });
      for (const r of rows) t.push(rowCells(r));
      process.stdout.write(
        `${workload.source}: ${workload.names.length} VMs on ${hosts} hosts, ${rounds} rounds of ${workload.intervalSeconds} s, mode ${opts.mode}\n`,
      );
      process.stdout.write(`${t.toString()}\n`);
    });
}
