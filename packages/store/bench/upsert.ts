// Throughput of what the scheduler writes most: one host report = host row + its 50 VMs, one transaction.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { Store, type VmSeenRow } from "../src/index.js";

const usage = `usage: node --import tsx packages/store/bench/upsert.ts [reports]
  reports   host reports written per target (default 2000)`;
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { help: { type: "boolean", short: "h", default: false } },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (positionals.length > 1) throw new Error(`one argument at most (reports), got ${positionals.join(" ")}\n${usage}`);
const reports = Number(positionals[0] ?? 2_000);
if (!Number.isInteger(reports) || reports < 1) throw new Error(`reports must be a positive integer (got ${positionals[0]})`);
const HOSTS = 20;
const VMS_PER_HOST = 50;

function vmsOf(h: number, atMs: number): VmSeenRow[] {
  return Array.from({ length: VMS_PER_HOST }, (_, i) => ({
    uuid: `00000000-0000-4000-8000-${(h * 1000 + i).toString(16).padStart(12, "0")}`,
    name: `h${h}-vm${i}`,
    host: `kvm${h}`,
    state: "running",
    memoryMiB: 2048,
    vcpus: 2,
    tags: ["web", `rack-${h % 4}`],
    lastSeenMs: atMs,
  }));
}

function run(path: string): { label: string; perSec: number; rowsPerSec: number; mean: number; p50: number; p99: number } {
  const store = Store.open({ path });
  const lat: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < reports; r++) {
    const h = r % HOSTS;
    const atMs = 1_700_000_000_000 + r * 250;
    const rows = vmsOf(h, atMs);
    const s = performance.now();
    store.transaction(() => {
      store.hosts.reported({
        id: `kvm${h}`,
        cluster: "bench",
        atMs,
        migrationUri: `qemu+tcp://127.0.1.${h}/system`,
        wake: [],
        capacity: { cpus: 32 },
      });
      store.vms.upsertSeen(rows);
    });
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  store.close();
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return {
    label: path === ":memory:" ? "memory" : "file (WAL, synchronous=NORMAL)",
    perSec: reports / secs,
    rowsPerSec: (reports * (VMS_PER_HOST + 1)) / secs,
    mean,
    p50: q(0.5),
    p99: q(0.99),
  };
}

const dir = mkdtempSync(join(tmpdir(), "drover-store-bench-"));
try {
  const results = [run(":memory:"), run(join(dir, "bench.db"))];
  const table = new Table({
    head: ["target", "reports/s", "rows/s", "mean ms", "p50 ms", "p99 ms"],
    colAligns: ["left", "right", "right", "right", "right", "right"],
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const r of results) {
    table.push([r.label, r.perSec.toFixed(0), r.rowsPerSec.toFixed(0), r.mean.toFixed(3), r.p50.toFixed(3), r.p99.toFixed(3)]);
  }
  process.stdout.write(
    `store bench: ${reports} reports of ${VMS_PER_HOST} VMs from ${HOSTS} hosts, each report one transaction` +
      ` (load average ${loadavg()[0]?.toFixed(1)}: a busy machine shows in the tail)\n${table.toString()}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
