// Per-report cost of the bus decode (UTF-8 decode + JSON.parse + zod HostReport) without NATS:
// what the ingest rate is made of. Run: node --import tsx scheduler/bench/decode.ts [--vms 10]
import { parseArgs } from "node:util";
import { z } from "zod";
import { decode } from "@drover/bus";
import { HostReport } from "@drover/protocol";
import { report, uuid } from "../test/helpers.js";

const { values: args } = parseArgs({ options: { vms: { type: "string", default: "10" }, n: { type: "string", default: "20000" } } });
const VMS = Number(args.vms);
const N = Number(args.n);
const msg = HostReport.parse(
  report(
    "kvm1",
    Array.from({ length: VMS }, (_, i) => ({ uuid: uuid(i + 1), name: `vm-${i}` })),
    Date.now(),
  ),
);
const data = new TextEncoder().encode(JSON.stringify(msg));
const time = (what: string, f: () => unknown) => {
  for (let i = 0; i < 2000; i++) f();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) f();
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / N;
  process.stdout.write(
    `${what.padEnd(28)} ${us.toFixed(1).padStart(7)} µs CPU/report  ${Math.round(1e6 / us)
      .toLocaleString("en")
      .padStart(8)} /CPU-s\n`,
  );
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
