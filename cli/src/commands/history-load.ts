// `drover history load --vm X | --host H [--since 7d] [--json | --csv]`: a host's or VM's recorded
// load (or the cluster's total demand), as the scheduler's load history keeps it, with the error of
// the seasonal forecast fitted on it.
import type { Command } from "commander";
import { HostId, LoadHistoryResponse, VmRef } from "@drover/protocol";
import { usageError } from "../errors.js";
import { printJson, table, time } from "../format.js";
import { client, sinceToMs } from "./api.js";

/** CSV of the points, one per line (RFC 4180: no field here needs quoting). */
export function loadCsv(r: LoadHistoryResponse): string {
  const head = "time,bucket_ms,samples,cpu_mhz,cpu_max_mhz,memory_mib,memory_max_mib";
  const rows = r.points.map((p) =>
    [new Date(p.timeMs).toISOString(), p.bucketMs, p.samples, p.cpuMhz, p.cpuMaxMhz, p.memoryMiB, p.memoryMaxMiB].join(","),
  );
  return `${[head, ...rows].join("\n")}\n`;
}

export function registerHistoryLoad(history: Command): void {
  history
    .command("load")
    .description("a host's or VM's recorded load (neither: the cluster's total VM demand), full resolution then 5-minute buckets")
    .option("--host <host>", "this host's load")
    .option("--vm <vm>", "this VM's load (name or uuid)")
    .option("--since <when>", "from this ISO time or this long ago (90s, 30m, 2h, 7d)", "1d")
    .option("--json", "print the API's LoadHistoryResponse")
    .option("--csv", "print the points as CSV")
    .action(async (o: { host?: string; vm?: string; since: string; json?: boolean; csv?: boolean }, cmd: Command) => {
      if (o.host !== undefined && o.vm !== undefined) throw usageError("give --host or --vm, not both");
      if (o.json && o.csv) throw usageError("give --json or --csv, not both");
      if (o.host !== undefined && !HostId.safeParse(o.host).success) throw usageError(`--host ${JSON.stringify(o.host)} is not a host id`);
      if (o.vm !== undefined && !VmRef.safeParse(o.vm).success)
        throw usageError(`--vm ${JSON.stringify(o.vm)} is not a VM name or uuid (1..256 characters)`);
      const q = new URLSearchParams({
        sinceMs: String(sinceToMs(o.since, Date.now())),
        ...(o.host !== undefined ? { host: o.host } : {}),
        ...(o.vm !== undefined ? { vm: o.vm } : {}),
      });
      const r = await client(cmd).get(`/v1/history/load?${q.toString()}`, LoadHistoryResponse);
      if (o.json) return printJson(r);
      if (o.csv) return void process.stdout.write(loadCsv(r));
      const mape = r.forecast.mape === null ? "not yet (less than a day recorded)" : `${(r.forecast.mape * 100).toFixed(1)} %`;
      process.stdout.write(
        `${table(
          ["time", "resolution", "CPU MHz (mean)", "CPU MHz (max)", "memory MiB"],
          r.points.map((p) => [
            time(p.timeMs),
            p.bucketMs === 0 ? "sample" : `${p.bucketMs / 60_000} min x${p.samples}`,
            p.cpuMhz.toFixed(0),
            p.cpuMaxMhz.toFixed(0),
            p.memoryMiB.toFixed(0),
          ]),
        )}\n${r.kind} ${r.id}: ${r.points.length} point(s); forecast error (MAPE, last week): ${mape}\n`,
      );
    });
}
