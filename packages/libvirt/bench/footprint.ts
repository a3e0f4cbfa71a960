// Footprint of one open connection: RSS, OS threads and CPU of this process while it polls like
// the host agent (version + allDomainStats every interval), after a warm-up.
// Run: node --import tsx packages/libvirt/bench/footprint.ts [uri] [seconds] [intervalMs]
import { readFileSync } from "node:fs";
import { Connection } from "@drover/libvirt";

const uri = process.argv[2] ?? "test:///default";
const seconds = Number(process.argv[3] ?? "30");
const intervalMs = Number(process.argv[4] ?? "5000");
if (!(seconds > 0) || !(intervalMs > 0)) throw new Error("usage: footprint.ts [uri] [seconds > 0] [intervalMs > 0]");

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
const row = (what: string, v: string) => process.stdout.write(`${what.padEnd(34)} ${v}\n`);
row("uri", uri);
row("before open: RSS / threads", `${before.rssMiB.toFixed(1)} MB / ${before.threads}`);
row("open, warm: RSS / threads", `${opened.rssMiB.toFixed(1)} MB / ${opened.threads}`);
row(`polling ${polls}x: max RSS / threads`, `${maxRss.toFixed(1)} MB / ${end.threads}`);
row(
  "CPU per poll interval",
  `${((end.cpuMs - opened.cpuMs) / polls).toFixed(1)} ms (${(((end.cpuMs - opened.cpuMs) / wall) * 100).toFixed(2)} % of a core)`,
);
