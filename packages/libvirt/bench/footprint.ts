// Footprint of one open connection: RSS, OS threads and CPU of this process while it polls like
// the host agent (version + allDomainStats every interval), after a warm-up.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { Connection } from "@drover/libvirt";

const usage = `usage: node --import tsx packages/libvirt/bench/footprint.ts [uri] [seconds] [intervalMs]
  uri          libvirt URI (default test:///default)
  seconds      how long to poll (default 30)
  intervalMs   time between polls (default 5000)`;
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { help: { type: "boolean", short: "h", default: false } },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (positionals.length > 3) throw new Error(`three arguments at most (uri, seconds, intervalMs), got ${positionals.length}\n${usage}`);
const [uri = "test:///default", secondsArg = "30", intervalArg = "5000"] = positionals;
const seconds = Number(secondsArg);
const intervalMs = Number(intervalArg);
if (!(seconds > 0)) throw new Error(`seconds must be a positive number (got ${secondsArg})`);
if (!(intervalMs > 0)) throw new Error(`intervalMs must be a positive number (got ${intervalArg})`);

function proc(): { rssMiB: number; threads: number; cpuMs: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024,
    threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1]),
    cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const before = proc();
const conn = await Connection.open(uri);
const poll = async () => {
  await conn.version();
  await conn.allDomainStats();
};
for (let i = 0; i < 3; i++) await poll();
await sleep(2000);
const opened = proc();
const t0 = performance.now();
let polls = 0;
let maxRss = 0;
while (performance.now() - t0 < seconds * 1000) {
  await poll();
  polls++;
  maxRss = Math.max(maxRss, proc().rssMiB);
  await sleep(intervalMs);
}
const end = proc();
await conn.close();
const wall = performance.now() - t0;
const table = new Table({ style: { head: [], border: [] }, chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" } });
table.push(
  ["uri", uri],
  ["before open: RSS / threads", `${before.rssMiB.toFixed(1)} MB / ${before.threads}`],
  ["open, warm: RSS / threads", `${opened.rssMiB.toFixed(1)} MB / ${opened.threads}`],
  [`polling ${polls}x: max RSS / threads`, `${maxRss.toFixed(1)} MB / ${end.threads}`],
  [
    "CPU per poll interval",
    `${((end.cpuMs - opened.cpuMs) / polls).toFixed(1)} ms (${(((end.cpuMs - opened.cpuMs) / wall) * 100).toFixed(2)} % of a core)`,
  ],
);
process.stdout.write(`${table.toString()}\n`);
