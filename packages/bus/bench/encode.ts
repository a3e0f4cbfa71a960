// Throughput of what every host report costs the bus: encode = zod parse + JSON, decode = JSON +
// zod parse, for a report of 50 VMs; then the same through a real nats-server. Prints a table.
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { HostReport, silentLogger, subjects } from "@drover/protocol";
import { sampleHostReport } from "@drover/protocol/testing";
import { Bus, decode, encode } from "../src/index.js";
import { NatsServer } from "../src/testing/index.js";

const usage = `usage: npm run bench:bus -- [--seconds 2] [--vms 50] [--no-nats]
  --seconds N   how long each row measures (default 2)
  --vms N       VMs in the host report (default 50)
  --no-nats     skip the run through a real nats-server`;
const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    vms: { type: "string", default: "50" },
    "no-nats": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const seconds = Number(args.seconds);
const vms = Number(args.vms);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number (got ${args.seconds})`);
if (!Number.isInteger(vms) || vms < 0) throw new Error(`--vms must be an integer >= 0 (got ${args.vms})`);

const report = sampleHostReport(vms);
const subject = subjects.hostReport("lab", "kvm01");
const wire = encode(HostReport, report, subject, "publish");
const text = new TextDecoder().decode(wire);
const parsed = JSON.parse(text) as unknown;
const te = new TextEncoder();

interface Row {
  op: string;
  msgsPerSec: number;
  usPerMsg: number;
  mbPerSec: number;
}

/** Runs `fn` in batches for `seconds` after a short warm-up; sinks results so nothing is optimised away. */
function measure(op: string, fn: () => unknown): Row {
  let sink = 0;
  const run = (ms: number) => {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      for (let i = 0; i < 50; i++) sink += fn() ? 1 : 0;
      n += 50;
      t = performance.now();
    }
    return { n, ms: t - t0 };
  };
  run(Math.min(500, seconds * 250));
  const { n, ms } = run(seconds * 1000);
  if (sink < 0) throw new Error("unreachable");
  const perSec = (n / ms) * 1000;
  return { op, msgsPerSec: perSec, usPerMsg: (ms * 1000) / n, mbPerSec: (perSec * wire.length) / 1e6 };
}

const rows: Row[] = [
  measure("encode (zod parse + JSON.stringify + utf8)", () => encode(HostReport, report, subject, "publish")),
  measure("decode (utf8 + JSON.parse + zod parse)", () => {
    const d = decode(HostReport, wire, subject, "receive");
    if (!d.ok) throw d.error;
    return d.value;
  }),
  measure("  of which zod parse only", () => HostReport.parse(parsed)),
  measure("  of which JSON.stringify + utf8 only", () => te.encode(JSON.stringify(report))),
  measure("  of which JSON.parse only", () => JSON.parse(text)),
];

if (!args["no-nats"]) rows.push(await throughNats());

/** Publish -> real nats-server on loopback -> validated subscriber, both sides in this process. */
async function throughNats(): Promise<Row> {
  await using server = await NatsServer.start();
  await using pub = await Bus.connect({ servers: [server.url], name: "bench-pub", logger: silentLogger });
  await using sub = await Bus.connect({ servers: [server.url], name: "bench-sub", logger: silentLogger });
  let received = 0;
  sub.subscribe(subject, HostReport, () => void received++);
  await sub.flush();
  const total = Math.max(1000, Math.round(rows[1]!.msgsPerSec * seconds * 0.5));
  const t0 = performance.now();
  // Publish in slices with a flush each, so the client's outbound buffer stays bounded.
  for (let sent = 0; sent < total;) {
    for (let i = 0; i < 200 && sent < total; i++, sent++) pub.publish(subject, HostReport, report);
    await pub.flush();
  }
  while (received < total) {
    if (performance.now() - t0 > 60_000) throw new Error(`only ${received}/${total} reports arrived`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  if (sub.stats().invalid !== 0) throw new Error("valid reports were rejected");
  const perSec = (total / ms) * 1000;
  return {
    op: `end to end via nats-server (${total} reports)`,
    msgsPerSec: perSec,
    usPerMsg: (ms * 1000) / total,
    mbPerSec: (perSec * wire.length) / 1e6,
  };
}

console.log(`host report with ${vms} VMs: ${wire.length} bytes of JSON; node ${process.version}; ${seconds} s per row`);
const table = new Table({
  head: ["operation", "messages/s", "µs/message", "MB/s"],
  colAligns: ["left", "right", "right", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
table.push(...rows.map((r) => [r.op, Math.round(r.msgsPerSec).toString(), r.usPerMsg.toFixed(1), r.mbPerSec.toFixed(1)]));
console.log(table.toString());
