// `drover simulate --from-history`: the load this cluster recorded (GET /v1/history/replay) through
// the policies in the simulator, each row beside what really happened in that period.
import type { Command } from "commander";
import Table from "cli-table3";
import { LoadReplayResponse } from "@drover/protocol";
import { fromHistory, outcomeColumns, resultRow, rowCells, simulate } from "@drover/sim";
import type { OutcomeRow, SimPolicy, SimulationResult } from "@drover/sim";
import { CliError, ExitCode } from "../errors.js";
import { client, sinceToMs } from "./api.js";
import type { SimulateOptions } from "./simulate.js";

/** The recorded period as an outcome row: energy, moves and hosts on as the store has them. */
function actualRow(doc: LoadReplayResponse): OutcomeRow {
  return {
    policy: "recorded",
    energyKwh: doc.actual.energyKwh ?? NaN,
    ratioToOracle: null,
    slatah: null,
    pdm: null,
    slav: null,
    esv: null,
    migrations: doc.actual.migrations,
    unserved: null,
    activeHostsMean: doc.actual.activeHostsMean,
    decisionMsMean: null,
    decisionMsMax: null,
    note: "what happened",
  };
}

export async function simulateHistory(cmd: Command, opts: SimulateOptions & { json: boolean }, policies: SimPolicy[]): Promise<void> {
  const sinceMs = sinceToMs(opts.since, Date.now());
  const doc = await client(cmd).get(`/v1/history/replay?sinceMs=${sinceMs}`, LoadReplayResponse);
  let replay;
  try {
    replay = fromHistory(doc);
  } catch (err) {
    // What the cluster recorded, not the command line, is short: no usage text, exit 1.
    const why = err instanceof Error ? err.message : String(err);
    throw new CliError(`simulate --from-history: ${why}`, "simulate.history", ExitCode.Failed, { cause: err });
  }
  const bootSeconds = Number(opts.bootSeconds);
  const results: SimulationResult[] = policies.map((p) =>
    simulate({
      workload: replay.workload,
      policy: p,
      mode: opts.mode,
      hosts: replay.hosts,
      hostTypes: replay.hostTypes,
      hostTypeOf: replay.hostTypeOf,
      vmTypes: replay.vmTypes,
      vmTypeOf: replay.vmTypeOf,
      bootSeconds,
    }),
  );
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ version: 1, source: replay.workload.source, mode: opts.mode, hosts: replay.hosts, vms: doc.vms.length, steps: doc.steps, actual: doc.actual, assumedPowerHosts: replay.assumedPower, results }, null, 2)}\n`,
    );
    return;
  }
  const t = new Table({ head: [...outcomeColumns], style: { head: [], border: [] } });
  t.push(rowCells(actualRow(doc)));
  for (const r of results) t.push(rowCells(resultRow(r, null)));
  const assumed = replay.assumedPower > 0 ? `; ${replay.assumedPower} host(s) without idleW/maxW assumed at 100-250 W` : "";
  process.stdout.write(
    `${replay.workload.source}: ${doc.vms.length} VMs on ${replay.hosts} hosts, ${doc.steps} steps of ${doc.stepMs / 1000} s, mode ${opts.mode}${assumed}\n`,
  );
  process.stdout.write(`${t.toString()}\n`);
}
