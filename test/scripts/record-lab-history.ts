// Records the load history a real lab writes, for `drover simulate --from-history` tests: a lab of
// three libvirtd hosts and QEMU guests, its agents and the scheduler (history at its default one
// sample a minute), run for a while with an operator's moves and a guest added midway. The
// scheduler is then stopped and its store copied (every API token revoked) to the fixture that
// test/src/simulate-lab-history.test.ts replays.
// Run: npm run record:lab-history [-- --minutes 21 --out test/data/lab-history.sqlite]
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "@drover/lab";
import { ApiMigration, ApiMigrationEnded, VmsResponse } from "@drover/protocol";
import { Store } from "@drover/store";
import { call } from "../src/helpers/api.js";
import { DroverLab, REPO_ROOT } from "../src/helpers/drover-lab.js";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "21" },
    out: { type: "string", default: join(REPO_ROOT, "test", "data", "lab-history.sqlite") },
    net: { type: "string", default: "37" },
  },
});
const minutes = Number(args.minutes);
const net = Number(args.net);
if (!Number.isFinite(minutes) || minutes < 1) throw new Error(`--minutes must be a number >= 1 (got ${args.minutes})`);
if (!Number.isInteger(net) || net < 1 || net > 253) throw new Error(`--net must be an integer in 1..253 (got ${args.net})`);

const say = (m: string): void => void process.stdout.write(`${new Date().toISOString()} ${m}\n`);

async function move(d: DroverLab, vm: string, host: string): Promise<void> {
  const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm, host });
  const ended = await waitFor(
    `the move of ${vm} to end`,
    async () => {
      const now = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
      return ApiMigrationEnded.has(now.state) ? now.state : undefined;
    },
    300_000,
    1000,
  );
  say(`move ${vm} -> ${host}: ${ended}`);
}

const d = await DroverLab.start({
  net,
  hosts: 3,
  guests: [
    { name: "vm1", host: "h1", memoryMiB: 128, workload: { busy: 1 } },
    { name: "vm2", host: "h1", memoryMiB: 128 },
    { name: "vm3", host: "h2", memoryMiB: 128 },
  ],
  // Only the operator's moves below: the recorded period is what this script did.
  scheduler: { policies: { balance: { mode: "off" }, consolidate: { mode: "off" } } },
});
try {
  // (the tests' waitReady needs vitest's runner)
  for (const vm of ["vm1", "vm2", "vm3"]) await d.waitBooted(vm);
  await waitFor(
    "the scheduler to list the three guests running",
    async () =>
      (await call(d.api, "GET", "/v1/vms", VmsResponse)).vms.filter((v) => v.state === "running").length === 3 ? true : undefined,
    120_000,
    1000,
  );
  const t0 = Date.now();
  const at = async (minute: number) => {
    const wait = t0 + minute * 60_000 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  say(`lab up; recording for ${minutes} min`);
  await at(minutes * 0.3);
  await move(d, "vm2", "h3");
  await at(minutes * 0.5);
  await d.addGuest({ name: "vm4", host: "h2", memoryMiB: 128, workload: { busy: 1 } });
  say("vm4 added on h2");
  await at(minutes * 0.75);
  await move(d, "vm1", "h2");
  await at(minutes);
  await d.lab.kill("scheduler");
  const tmp = await mkdtemp(join(tmpdir(), "drover-history-"));
  try {
    const copy = join(tmp, "lab-history.sqlite");
    const source = Store.open({ path: join(dirname(d.stateDir), "scheduler", "drover.sqlite") });
    source.backupTo(copy);
    source.close();
    const out = Store.open({ path: copy });
    // The lab's admin token is of no use to a replay: the fixture holds none that is valid.
    for (const t of out.tokens.list()) if (t.revokedMs === null) out.tokens.revoke(t.name, Date.now());
    const n = out.load.ids("vm").length;
    out.close();
    await mkdir(dirname(resolve(args.out)), { recursive: true });
    await copyFile(copy, resolve(args.out));
    say(`the load of ${n} VMs written to ${args.out}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
} finally {
  await d.stop();
}
