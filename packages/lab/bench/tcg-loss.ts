// How often a live migration on this lab kills the guest with no Drover involved: two lab hosts,
// guests moved back and forth with plain `virsh migrate` and the flags Drover's agent uses, each
// checked on its destination afterwards (ticking on, or its kernel died: guestKernelDied names why).
// QEMU 7.2's TCG loses dirty pages during live migration (fixed in QEMU 9.0, commit 03bfc2188f);
// this measures the rate on this machine. Load on the machine (e.g. another test run) raises it.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { guestKernelDiedIn, Lab, readTicks, startGuest } from "../src/index.js";

const run = promisify(execFile);
const usage = `usage: npm run bench:tcg-loss -- [--rounds 10] [--guests 2] [--bandwidth 8] [--dirty-rate 2] [--net 78]
  --rounds N      moves of each guest (default 10)
  --guests N      guests moved at the same time (default 2)
  --bandwidth N   MiB/s cap of each move, as the lab's tests set (default 8)
  --dirty-rate N  MiB/s each guest rewrites (default 2)
  --net N         lab network octet: hosts on 127.0.N.x (default 78)`;
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    guests: { type: "string", default: "2" },
    bandwidth: { type: "string", default: "8" },
    "dirty-rate": { type: "string", default: "2" },
    net: { type: "string", default: "78" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const int = (name: "rounds" | "guests" | "bandwidth" | "dirty-rate" | "net", min: number, max: number) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer ${min}..${max} (got ${args[name]})`);
  return v;
};
const rounds = int("rounds", 1, 1000);
const nGuests = int("guests", 1, 4);
const bandwidth = int("bandwidth", 1, 10_000);
const dirtyRate = int("dirty-rate", 0, 64);
const net = int("net", 1, 250);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lab = await Lab.start({ net, hosts: 2, guests: 0 });
const stop = () => void lab.stop().finally(() => process.exit(130));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
const rows: { guest: string; moves: number; died: number; hung: number; failed: number; first: string }[] = [];
try {
  const hosts = [lab.host("h1"), lab.host("h2")] as const;
  const names = Array.from({ length: nGuests }, (_, i) => `vm${i + 1}`);
  for (const name of names) await startGuest(hosts[0], { name, memoryMiB: 96, workload: { dirtyMb: 8, dirtyRate } });
  await Promise.all(
    names.map(async (name) => {
      const row = { guest: name, moves: 0, died: 0, hung: 0, failed: 0, first: "" };
      rows.push(row);
      let at = 0;
      while ((await readTicks(hosts[0].serialFile(name))) < 5) await sleep(500);
      for (let i = 0; i < rounds && row.died + row.hung === 0; i++) {
        const [from, to] = [hosts[at]!, hosts[1 - at]!];
        const before = await readTicks(from.serialFile(name));
        const flags = ["--live", "--p2p", "--persistent", "--undefinesource", "--unsafe", "--tls", "--bandwidth", String(bandwidth)];
        const err = await run("virsh", ["-c", from.uri, "migrate", ...flags, name, to.uri], { timeout: 600_000 }).then(
          () => null,
          (e: Error) => e.message,
        );
        if (err !== null) {
          row.failed++;
          continue;
        }
        row.moves++;
        at = 1 - at;
        // Ticking on, or dead: a guest ticks every second.
        let verdict: string | null = null;
        for (let t = 0; t < 20 && verdict === null; t++) {
          await sleep(1000);
          if ((await readTicks(to.serialFile(name))) > before + 2) verdict = "ok";
          else verdict = await guestKernelDiedIn(to.serialFile(name), before);
        }
        if (verdict === "ok") continue;
        if (verdict === null) row.hung++;
        else row.died++;
        row.first = `move ${row.moves} ${from.name}->${to.name}: ${verdict ?? "stopped ticking, nothing printed"}`;
      }
    }),
  );
} finally {
  await lab.stop();
}
const table = new Table({ head: ["guest", "moves", "kernel died", "stopped ticking", "virsh failed", "first loss"] });
for (const r of rows) table.push([r.guest, r.moves, r.died, r.hung, r.failed, r.first || "-"]);
process.stdout.write(
  `live migrations of TCG guests with plain virsh (${bandwidth} MiB/s cap, ${dirtyRate} MiB/s dirtied); a guest stops at its first loss\n${table.toString()}\n`,
);
