// Lab timings on this machine: libvirtd start, guest boot to first tick, live migration time and
// downtime (p2p, unsafe, via @drover/libvirt), for a calm guest and one that dirties memory fast.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { Connection, MigrateFlags } from "@drover/libvirt";
import { LabHost, readTicks, startGuest, type GuestWorkload } from "../src/index.js";

const usage = `usage: node --import tsx packages/lab/bench/lab.ts [--net 12] [--runs 3]
  --net N    lab network octet: hosts on 127.0.N.x (default 12)
  --runs N   migrations per guest kind (default 3)`;
const { values: args } = parseArgs({
  options: {
    net: { type: "string", default: "12" },
    runs: { type: "string", default: "3" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const positive = (name: "net" | "runs") => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer (got ${args[name]})`);
  return v;
};
const net = positive("net");
const runs = positive("runs");
const FLAGS = MigrateFlags.LIVE | MigrateFlags.PEER2PEER | MigrateFlags.UNSAFE | MigrateFlags.PERSIST_DEST | MigrateFlags.UNDEFINE_SOURCE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function firstTick(file: string, from: number): Promise<number> {
  for (;;) {
    if ((await readTicks(file)) > from) return Date.now();
    await sleep(50);
  }
}

const stateDir = await mkdtemp(join(tmpdir(), "drover-lab-bench-"));
const hosts = [1, 2].map((i) => new LabHost({ name: `h${i}`, index: i, net, stateDir }));
const rows: Array<[string, string, number]> = [];
const conns: Connection[] = [];
try {
  for (const h of hosts) {
    const t = Date.now();
    await h.start();
    rows.push(["libvirtd start", h.name, Date.now() - t]);
  }
  const [h1, h2] = hosts as [LabHost, LabHost];
  const c1 = await Connection.open(h1.uri);
  conns.push(c1, await Connection.open(h2.uri));
  const c2 = conns[1] as Connection;
  const kinds: Array<[string, GuestWorkload]> = [
    ["calm (8 MiB at 8 MiB/s)", {}],
    ["dirty (32 MiB at max)", { dirtyMb: 32, dirtyRate: "max" }],
  ];
  for (const [label, workload] of kinds) {
    for (let r = 0; r < runs; r++) {
      const name = `bench${r}${label.startsWith("calm") ? "c" : "d"}`;
      let t = Date.now();
      await startGuest(h1, { name, workload });
      await firstTick(h1.serialFile(name), 0);
      rows.push([`boot to first tick, ${label}`, name, Date.now() - t]);
      await sleep(2000);
      const dom = await c1.lookupDomain(name);
      t = Date.now();
      await dom.migrateToUri3(h2.uri, { bandwidthMiBs: 1024 }, FLAGS);
      rows.push([`migration, ${label}`, name, Date.now() - t]);
      dom.free();
      const d2 = await c2.lookupDomain(name);
      const job = await d2.jobStats({ completed: true }).catch(() => undefined);
      const downtime = job?.downtimeMs;
      if (downtime !== undefined) rows.push([`downtime, ${label}`, name, downtime]);
      await d2.destroy();
      await d2.undefine();
      d2.free();
    }
  }
} finally {
  for (const c of conns) await c.close();
  for (const h of hosts) await h.stop();
  await rm(stateDir, { recursive: true, force: true });
}

const table = new Table({
  head: ["what", "guest", "ms"],
  colAligns: ["left", "left", "right"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
table.push(...rows.map(([what, who, ms]) => [what, who, String(ms)]));
process.stdout.write(`${table.toString()}\n`);
