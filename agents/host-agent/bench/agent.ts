// Host agent bench on a real lab (net 22: 127.0.22.x), printed as a table:
//  1. migration time, agent-driven (NATS command -> result) vs `virsh migrate --live --p2p`, same
//     guest, same flags, alternating directions; target agent <= 1.05x virsh (medians).
//  2. the agent process's RSS and CPU with 20 running guests at the 5 s report interval;
//     targets <= 60 MB RSS and <= 0.5% of one core.
import { execFile } from "node:child_process";
import { readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import Table from "cli-table3";
import { Bus } from "@drover/bus";
import { Lab } from "@drover/lab";
import { Command, CommandReply, HostReport, MigrationResult, silentLogger, subjects, type CommandInput } from "@drover/protocol";
import { agentFromConfig } from "../test/helpers.js";

const usage = `usage: npm run bench:agent -- [--rounds 3] [--vms 20] [--seconds 60] [--skip-migration] [--skip-load]
  --rounds N         agent and virsh migrations each (default 3)
  --vms N            running guests for the load measurement, 1..32 (default 20)
  --seconds N        how long the load measurement runs, >= 10 (default 60)
  --skip-migration   skip the agent vs virsh migration timing
  --skip-load        skip the RSS / CPU measurement`;
const { values: args } = parseArgs({
  options: {
    help: { type: "boolean", short: "h", default: false },
    rounds: { type: "string", default: "3" },
    vms: { type: "string", default: "20" },
    seconds: { type: "string", default: "60" },
    "skip-migration": { type: "boolean", default: false },
    "skip-load": { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const rounds = Number(args.rounds);
const nVms = Number(args.vms);
const seconds = Number(args.seconds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be an integer >= 1 (got ${args.rounds})`);
if (!Number.isInteger(nVms) || nVms < 1 || nVms > 32) throw new Error(`--vms must be an integer 1..32 (got ${args.vms})`);
if (!(seconds >= 10)) throw new Error(`--seconds must be a number >= 10 (got ${args.seconds})`);

const NET = 22;
const CLUSTER = "bench";
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface Row {
  what: string;
  value: string;
  target: string;
  ok: string;
}
const rows: Row[] = [];

async function startLab(dir: string, hosts: number, guests: number, memoryMiB: number, dirtyMb: number): Promise<Lab> {
  const config = join(dir, "agent.yaml");
  await writeFile(
    config,
    `cluster: ${CLUSTER}\nhost: placeholder\nnats:\n  servers: [nats://127.0.0.1:4222]\nreportIntervalMs: 5000\nlogLevel: warn\n`,
  );
  return Lab.start({
    hosts,
    guests,
    net: NET,
    cluster: CLUSTER,
    stateDir: join(dir, "lab"),
    natsPort: 4222,
    wolPort: 9,
    guest: { memoryMiB, workload: { dirtyMb, dirtyRate: dirtyMb > 0 ? 1 : 0 } },
    agentCommand: agentFromConfig(config),
  });
}

async function waitReport(bus: Bus, host: string, pred: (r: HostReport) => boolean, timeoutMs = 120_000): Promise<HostReport> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`no matching report from ${host} within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = bus.subscribe(subjects.hostReport(CLUSTER, host), HostReport, (r) => {
      if (!pred(r)) return;
      clearTimeout(t);
      sub.unsubscribe();
      resolve(r);
    });
  });
}

async function migrationBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "drover-agent-bench-"));
  const lab = await startLab(dir, 2, 1, 96, 4);
  const bus = await Bus.connect({ ...lab.busOptions("scheduler"), name: "agent-bench", logger: silentLogger });
  try {
    const hosts = [lab.host("h1"), lab.host("h2")];
    const vm = lab.guests[0]?.name ?? "vm1";
    await waitReport(bus, "h1", (r) => r.vms.some((v) => v.name === vm && v.state === "running"));
    await waitReport(bus, "h2", () => true);
    const agentMs: number[] = [];
    const agentLibvirtMs: number[] = [];
    const virshMs: number[] = [];
    let at = 0; // index of the host running the guest
    // One unmeasured warm-up move, then ABBA order so neither tool always goes first.
    const order = ["warm", ...Array.from({ length: rounds * 2 }, (_, k) => (k % 4 === 0 || k % 4 === 3 ? "agent" : "virsh"))];
    for (const [i, who] of order.entries()) {
      const src = hosts[at] as (typeof hosts)[number];
      const dst = hosts[1 - at] as (typeof hosts)[number];
      await sleep(3000); // let the destination settle after the previous move
      if (who !== "virsh") {
        const id = `bench-${i}`;
        const result = new Promise<MigrationResult>((resolve) => {
          const sub = bus.subscribe(subjects.migrationResult(CLUSTER, src.name, `m-${id}`), MigrationResult, (r) => {
            sub.unsubscribe();
            resolve(r);
          });
        });
        const t0 = performance.now();
        const cmd = {
          v: 1,
          id,
          issuedAtMs: Date.now(),
          kind: "migrate",
          migrationId: `m-${id}`,
          vm,
          destination: { host: dst.name, uri: dst.uri },
          options: { allowUnsafe: true },
        };
        const reply = await bus.request(subjects.hostCommand(CLUSTER, src.name), Command, cmd as CommandInput, CommandReply, {
          timeoutMs: 30_000,
        });
        if (reply.status !== "accepted") throw new Error(`migrate not accepted: ${JSON.stringify(reply.error)}`);
        const r = await result;
        if (r.outcome !== "succeeded") throw new Error(`agent migration ${r.outcome}: ${r.error?.message}`);
        if (who === "warm") {
          at = 1 - at;
          continue;
        }
        agentMs.push(performance.now() - t0);
        agentLibvirtMs.push(r.durationMs);
        if (r.outcome !== "succeeded") throw new Error(`agent migration ${r.outcome}: ${r.error?.message}`);
      } else {
        const t0 = performance.now();
        await run(
          "virsh",
          ["-q", "-c", src.uri, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", "--unsafe", vm, dst.uri],
          { timeout: 300_000 },
        );
        virshMs.push(performance.now() - t0);
      }
      at = 1 - at;
    }
    const ratio = median(agentMs) / median(virshMs);
    rows.push({
      what: `migration, agent (command -> result), median of ${agentMs.length}`,
      value: `${(median(agentMs) / 1000).toFixed(2)} s [${agentMs.map((x) => (x / 1000).toFixed(2)).join(", ")}]`,
      target: "",
      ok: "",
    });
    rows.push({
      what: "  of which inside the agent (result.durationMs)",
      value: `${(median(agentLibvirtMs) / 1000).toFixed(2)} s`,
      target: "",
      ok: "",
    });
    rows.push({
      what: `migration, virsh migrate --live --p2p, median of ${virshMs.length}`,
      value: `${(median(virshMs) / 1000).toFixed(2)} s [${virshMs.map((x) => (x / 1000).toFixed(2)).join(", ")}]`,
      target: "",
      ok: "",
    });
    rows.push({ what: "agent / virsh", value: `${ratio.toFixed(3)}x`, target: "<= 1.05x", ok: ratio <= 1.05 ? "yes" : "NO" });
  } finally {
    await bus.drain().catch(() => undefined);
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function procCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based) of the whole line; here offset by the 2 skipped.
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function procRssMiB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** RSS counts the node binary's code pages, shared by every Node process; PSS and anonymous memory
 * say what this process really adds. Also its OS threads (main, V8/libuv helpers, worker threads). */
async function procMemory(pid: number): Promise<{ pssMiB: number; anonMiB: number; threads: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? NaN) / 1024;
  return {
    pssMiB: kib(/^Pss:\s+(\d+) kB/m, rollup),
    anonMiB: kib(/^RssAnon:\s+(\d+) kB/m, status),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
  };
}

async function loadBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "drover-agent-bench-"));
  // Tiny idle guests (64 MiB, no dirtying) keep 20 TCG guests affordable on a 2-core machine.
  const lab = await startLab(dir, 1, nVms, 64, 0);
  const bus = await Bus.connect({ ...lab.busOptions("scheduler"), name: "agent-bench", logger: silentLogger });
  try {
    const pid = lab.host("h1").agent?.pid;
    if (!pid) throw new Error("agent of h1 not running");
    await waitReport(bus, "h1", (r) => r.vms.length === nVms && r.vms.every((v) => v.state === "running"), 300_000);
    let reports = 0;
    let maxRss = 0;
    let lastSeq = -1;
    const sub = bus.subscribe(subjects.hostReport(CLUSTER, "h1"), HostReport, (r) => {
      reports++;
      lastSeq = r.seq;
    });
    const cpu0 = await procCpuMs(pid);
    const t0 = performance.now();
    const rssSamples: number[] = [];
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(1000);
      const rss = await procRssMiB(pid);
      rssSamples.push(rss);
      maxRss = Math.max(maxRss, rss);
    }
    const mem = await procMemory(pid);
    const cpu1 = await procCpuMs(pid);
    const wall = performance.now() - t0;
    sub.unsubscribe();
    const cpuShare = (cpu1 - cpu0) / wall;
    rows.push({
      what: `agent with ${nVms} running VMs, ${(wall / 1000).toFixed(0)} s at 5 s interval`,
      value: `${reports} reports (last seq ${lastSeq})`,
      target: "",
      ok: "",
    });
    rows.push({
      what: "  RSS, max (median)",
      value: `${maxRss.toFixed(1)} MB (${median(rssSamples).toFixed(1)} MB)`,
      target: "<= 60 MB",
      ok: maxRss <= 60 ? "yes" : "NO",
    });
    rows.push({
      what: "  at the end: PSS / anonymous RSS / OS threads",
      value: `${mem.pssMiB.toFixed(1)} MB / ${mem.anonMiB.toFixed(1)} MB / ${mem.threads}`,
      target: "",
      ok: "",
    });
    rows.push({ what: "  CPU per report", value: `${((cpu1 - cpu0) / Math.max(1, reports)).toFixed(1)} ms`, target: "", ok: "" });
    rows.push({
      what: "  CPU, share of one core",
      value: `${(cpuShare * 100).toFixed(2)} %`,
      target: "<= 0.5 %",
      ok: cpuShare <= 0.005 ? "yes" : "NO",
    });
  } finally {
    await bus.drain().catch(() => undefined);
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (!args["skip-migration"]) await migrationBench();
if (!args["skip-load"]) await loadBench();

const table = new Table({
  head: ["measure", "value", "target", "met"],
  style: { head: [], border: [] },
  chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
});
table.push(...rows.map((r) => [r.what, r.value, r.target, r.ok]));
process.stdout.write(`\nhost-agent bench (lab net ${NET}, ${new Date().toISOString()})\n${table.toString()}\n`);
