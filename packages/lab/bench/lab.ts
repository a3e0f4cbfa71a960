// Lab timings on this machine: libvirtd start, guest boot to first tick, live migration time and
// downtime (p2p, unsafe, via @drover/libvirt), for a calm guest and one that dirties memory fast.
// Run: node --import tsx packages/lab/bench/lab.ts [--net 12] [--runs 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Connection, MigrateFlags } from "@drover/libvirt";
import { LabHost, readTicks, startGuest, type GuestWorkload } from "../src/index.js";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const net = arg("net", 12);
const runs = arg("runs", 3);
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

const width = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(`${"what".padEnd(width)}  guest      ms\n`);
for (const [what, who, ms] of rows) process.stdout.write(`${what.padEnd(width)}  ${who.padEnd(9)} ${String(ms).padStart(6)}\n`);
