// Per-report cost of the bus decode (UTF-8 decode + JSON.parse + zod HostReport) without NATS:
// what the ingest rate is made of.
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { z } from "zod";
import { decode } from "@drover/bus";
import { HostReport } from "@drover/protocol";
import { report, uuid } from "../test/helpers.js";

const usage = `usage: node --import tsx scheduler/bench/decode.ts [--vms 10] [--n 20000]
  --vms N   VMs in the host report (default 10)
  --n N     decodes per row (default 20000)`;
const { values: args } = parseArgs({
  options: {
    vms: { type: "string", default: "10" },
    n: { type: "string", default: "20000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const VMS = Number(args.vms);
const N = Number(args.n);
if (!Number.isInteger(VMS) || VMS < 0) throw new Error(`--vms must be an integer >= 0 (got ${args.vms})`);
if (!Number.isInteger(N) || N < 1) throw new Error(`--n must be a positive integer (got ${args.n})`);
const msg = HostReport.parse(
  report(
    "kvm1",
    Array.from({ length: VMS }, (_, i) => ({ uuid: uuid(i + 1), name: `vm-${i}` })),
    Date.now(),
  ),
);
const data = new TextEncoder().encode(JSON.stringify(msg));
const table = new Table({
  head: ["step", "µs CPU/report", "reports/CPU-s"],
  colAligns: ["left", "right", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
const time = (what: string, f: () => unknown) => {
  for (let i = 0; i < 2000; i++) f();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) f();
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / N;
  table.push([what, us.toFixed(1), Math.round(1e6 / us).toLocaleString("en")]);
};
const td = new TextDecoder("utf-8", { fatal: true });
const compiled = z.compile(HostReport);
const json = JSON.parse(td.decode(data)) as unknown;
process.stdout.write(`${VMS} VMs, ${data.length} B\n`);
time("utf-8 decode", () => td.decode(data));
time("utf-8 decode + JSON.parse", () => JSON.parse(td.decode(data)));
time("zod runtime parser", () => HostReport.safeParse(json));
time("zod compiled (the bus)", () => compiled.safeParse(json));
time("bus decode (all of it)", () => decode(HostReport, data, "s", "receive"));
process.stdout.write(`${table.toString()}\n`);
