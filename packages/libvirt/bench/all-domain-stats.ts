// Calls per second through the worker-thread pool on libvirt's in-process test driver.
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { Connection } from "../src/index.js";

const usage = `usage: node --import tsx packages/libvirt/bench/all-domain-stats.ts [seconds-per-row]
  seconds-per-row   how long each row measures (default 3)`;
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { help: { type: "boolean", short: "h", default: false } },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (positionals.length > 1) throw new Error(`one argument at most (seconds-per-row), got ${positionals.join(" ")}\n${usage}`);
const seconds = Number(positionals[0] ?? 3);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`seconds-per-row must be a positive number (got ${positionals[0]})`);

const conn = await Connection.open("test:///default");
const xml = (i: number) =>
  `<domain type='test'><name>bench-${i}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='i686'>hvm</type></os></domain>`;
const doms = [];
for (let i = 0; i < 20; i++) {
  const d = await conn.defineXml(xml(i));
  await d.start();
  doms.push(d);
}
const first = doms[0];
if (first === undefined) throw new Error("no domain defined");

async function rate(name: string, concurrency: number, call: () => Promise<unknown>): Promise<string[]> {
  await Promise.all(Array.from({ length: concurrency }, () => call())); // warm the threads
  let n = 0;
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await call();
        lat.push(performance.now() - t);
        n++;
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const p = (q: number) => (lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0).toFixed(2);
  return [name, String(concurrency), (n / seconds).toFixed(0), p(0.5), p(0.99)];
}

const rows = [
  await rate("allDomainStats (21 domains)", 1, () => conn.allDomainStats()),
  await rate("allDomainStats (21 domains)", 4, () => conn.allDomainStats()),
  await rate("allDomainStats (1 domain)", 1, () => conn.allDomainStats({ domains: [first] })),
  await rate("listDomains (21 domains)", 1, () => conn.listDomains()),
  await rate("domain.info", 1, () => first.info()),
  await rate("domain.info", 4, () => first.info()),
];
const table = new Table({
  head: ["call", "concurrency", "calls/s", "p50 ms", "p99 ms"],
  colAligns: ["left", "right", "right", "right", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
table.push(...rows);
process.stdout.write(`libvirt test:///default, ${seconds} s per row\n${table.toString()}\n`);

for (const d of doms) {
  await d.destroy();
  await d.undefine();
  d.free();
}
await conn.close();
