// How close the scheduler's cost model comes on this machine: runs the balance scenario of
// test/src/balance.lab.test.ts on a lab (the balancer's move, two operator moves of an idle guest,
// then an approved drain plan) and prints predicted vs measured duration per move. A figure, not
// a pass/fail: on a loaded 2-core machine the same move takes 2 s or 3 s.
// Run: npm run bench:cost-model [-- --net 35 --moves 2]
import { parseArgs } from "node:util";
import Table from "cli-table3";
import { waitFor } from "@drover/lab";
import { ApiMigrationEnded, ApiPlan, HostsResponse, MigrationsResponse, VmsResponse, type ApiMigration } from "@drover/protocol";
import { call, drover } from "../src/helpers/api.js";
import { HOSTS, balanceScenario, startBalancing } from "../src/helpers/balance-scenario.js";
import { DroverLab } from "../src/helpers/drover-lab.js";

const { values: args } = parseArgs({
  options: {
    net: { type: "string", default: "35" },
    moves: { type: "string", default: "2" },
  },
});
const net = Number(args.net);
const moves = Number(args.moves);
if (!Number.isInteger(net) || net < 1 || net > 253) throw new Error(`--net must be an integer in 1..253 (got ${args.net})`);
if (!Number.isInteger(moves) || moves < 0) throw new Error(`--moves must be an integer >= 0 (got ${args.moves})`);

const migrations = async (api: string): Promise<ApiMigration[]> =>
  (await call(api, "GET", "/v1/migrations?limit=1000", MigrationsResponse)).migrations;
const hostOf = async (api: string, vm: string): Promise<string | undefined> =>
  (await call(api, "GET", "/v1/vms", VmsResponse)).vms.find((v) => v.name === vm)?.host;

async function cli(api: string, argv: string[]): Promise<string> {
  const r = await drover(api, argv);
  if (r.code !== 0) throw new Error(`drover ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const scenario = balanceScenario(net);
const vmNames = scenario.guests.map((g) => g.name);
const d = await DroverLab.start(scenario);
try {
  const api = d.api;
  await waitFor(
    "3 healthy hosts reporting every guest",
    async () => {
      const healthy = (await call(api, "GET", "/v1/hosts", HostsResponse)).hosts.filter((h) => h.state === "healthy");
      const running = (await call(api, "GET", "/v1/vms", VmsResponse)).vms.filter((v) => v.state === "running").map((v) => v.name);
      return healthy.length >= HOSTS.length && vmNames.every((n) => running.includes(n)) ? true : undefined;
    },
    180_000,
    1000,
  );
  await startBalancing(api);
  process.stderr.write("cluster ready; waiting for the balancer's move\n");
  await waitFor(
    "the balancer's move off h1 to end",
    async () => ((await migrations(api)).some((m) => m.source === "h1" && ApiMigrationEnded.has(m.state)) ? true : undefined),
    300_000,
    1000,
  );
  for (let i = 0; i < moves; i++) {
    const at = await hostOf(api, "vm4");
    process.stderr.write(`operator move ${i + 1}/${moves}: vm4 from ${at}\n`);
    await cli(api, ["migrate", "vm4", HOSTS.find((h) => h !== at) as string, "--wait", "--json"]);
  }
  const from = (await hostOf(api, "vm3")) as string;
  const plan = ApiPlan.parse(JSON.parse(await cli(api, ["plan", "drain", from, "--json"])));
  await cli(api, ["plan", "approve", plan.id, "--json"]);
  process.stderr.write(`approved drain plan of ${from}; waiting for its moves\n`);
  await waitFor(
    "the drain plan's moves to end",
    async () => {
      const ms = (await migrations(api)).filter((m) => m.planId === plan.id);
      return ms.length > 0 && ms.every((m) => ApiMigrationEnded.has(m.state)) ? true : undefined;
    },
    300_000,
    1000,
  );

  const all = (await migrations(api)).filter((m) => m.state === "succeeded").sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0));
  const table = new Table({ head: ["#", "VM", "move", "asked by", "predicted ms", "measured ms", "error"] });
  const errors: number[] = [];
  all.forEach((m, i) => {
    const p = m.predictedDurationMs;
    const s = m.measuredDurationMs;
    const err = p !== null && s !== null && s > 0 ? (p - s) / s : null;
    if (err !== null) errors.push(Math.abs(err));
    table.push([
      i + 1,
      m.vm,
      `${m.source} -> ${m.destination}`,
      m.planId ? `plan ${m.planId}` : m.requestedBy,
      p === null ? "-" : Math.round(p),
      s === null ? "-" : Math.round(s),
      err === null ? "-" : `${err >= 0 ? "+" : ""}${Math.round(err * 100)}%`,
    ]);
  });
  process.stdout.write(`${table.toString()}\n`);
  if (errors.length > 0) {
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const within = errors.filter((e) => e <= 0.3).length;
    process.stdout.write(`mean |error| ${Math.round(mean * 100)}%; within 30%: ${within} of ${errors.length} moves\n`);
    // The scenario fits the constants after two measured moves: the later ones show the fitted model.
    const fitted = errors.slice(2);
    if (fitted.length > 0) {
      const fittedMean = fitted.reduce((a, b) => a + b, 0) / fitted.length;
      process.stdout.write(
        `from move 3 on (fitted): mean |error| ${Math.round(fittedMean * 100)}%, within 30%: ${fitted.filter((e) => e <= 0.3).length} of ${fitted.length}\n`,
      );
    }
  }
} finally {
  await d.stop();
}
