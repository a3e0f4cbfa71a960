// `drover demo`: a lab of 3 hosts and guests of different sizes and loads, one drover-agent per
// host and the scheduler, then four scenes narrated in the terminal: a hot host is balanced; a
// host is drained for maintenance and returned; at night a consolidation empties a host and
// powers it off; load rises and the host is woken. Everything runs in this process's lab and is
// stopped by pid at the end, on Ctrl-C and on failure, unless `keep` asks to leave it up for a look
// at the dashboard until Ctrl-C.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { guestKernelDiedIn, Lab, readFirstTick, readTicks, startGuest, teardown, type GuestWorkload } from "@drover/lab";
import { ApiMaintenance, ApiPlan, HistoryResponse, MigrationsResponse, VmsResponse, type ApiPlan as Plan } from "@drover/protocol";
import { ApiClient } from "../api-client.js";
import { drainOutcome, printPlan } from "../commands/api.js";
import { LAB_TOKEN_FILE } from "../api-auth.js";
import { CliError } from "../errors.js";
import { mib, ms, pct, table } from "../format.js";
import { writeLabCluster } from "../lab-setup.js";
import { hosts, waitDrain, waitHosts, waitMigration } from "../ops.js";
import { narrator as n } from "./narrator.js";

export interface DemoOptions {
  net: number;
  stateDir?: string;
  keepStateDir?: boolean;
  /** Leave the lab running at the end, for a look at the dashboard, until Ctrl-C (which stops it). */
  keep?: boolean;
}

interface GuestDef {
  name: string;
  host: string;
  memoryMiB: number;
  workload: GuestWorkload;
  role: string;
}

const run = promisify(execFile);

const GUESTS: GuestDef[] = [
  { name: "web", host: "h1", memoryMiB: 96, workload: { busy: 1, dirtyMb: 8 }, role: "busy web server (1 CPU loop, 8 MiB rewritten)" },
  { name: "batch", host: "h1", memoryMiB: 128, workload: { busy: 1, dirtyMb: 4 }, role: "busy batch job (1 CPU loop)" },
  { name: "mail", host: "h1", memoryMiB: 96, workload: { busy: 0, dirtyMb: 2, dirtyRate: 2 }, role: "idle mail server" },
  { name: "db", host: "h2", memoryMiB: 128, workload: { busy: 0, dirtyMb: 16, dirtyRate: 4 }, role: "idle database (16 MiB working set)" },
  { name: "cache", host: "h3", memoryMiB: 96, workload: { busy: 0, dirtyMb: 2, dirtyRate: 2 }, role: "idle cache" },
];

/** A window (UTC) open now: the scheduler consolidates only inside it, so the demo's night is now. */
function windowNow(): { start: string; end: string; timezone: "utc"; restoreBeforeEndMs: number } {
  const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
  return { start: hhmm(Date.now() - 3_600_000), end: hhmm(Date.now() + 4 * 3_600_000), timezone: "utc", restoreBeforeEndMs: 60_000 };
}

export async function runDemo(o: DemoOptions, signal: AbortSignal): Promise<void> {
  const tmp = o.stateDir ? undefined : await mkdtemp(join(tmpdir(), "drover-demo-"));
  const stateDir = o.stateDir ?? join(tmp as string, "lab");
  let lab: Lab | undefined;
  let starting: Promise<Lab> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      n.dim(`\nStopping the lab (scheduler, agents, guests, libvirtds, NATS, by pid)...`);
      // Interrupted inside Lab.start(): let it finish (it cannot be cut short without leaving
      // half-started processes), then stop everything it started.
      if (!lab && starting) lab = await starting.catch(() => undefined);
      if (lab) await lab.stop();
      else await teardown(stateDir);
      lab = undefined;
      if (tmp && !o.keepStateDir) await rm(tmp, { recursive: true, force: true });
    })());
  const onSignal = () => void stop().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let dashboard = "";
  try {
    const cluster = await writeLabCluster({
      hosts: 3,
      net: o.net,
      stateDir,
      scheduler: {
        // The demo asks for each plan and approves it itself, so it can show the decision first.
        policies: {
          balance: { mode: "recommend", everyMs: 3_600_000 },
          consolidate: { mode: "recommend", everyMs: 3_600_000, window: windowNow(), args: { band: { low: 0.4, high: 0.6 } } },
          drain: { mode: "automatic" },
        },
        cooldowns: { vmMs: 0 },
      },
    });
    n.step(0, "A lab cluster");
    n.say(`Three KVM hosts h1..h3 (a real libvirtd each, on 127.0.${o.net}.1-3), NATS, one drover-agent per host and`);
    n.say(`the scheduler; tiny QEMU guests whose serial consoles print a tick counter. State in ${stateDir}.`);
    n.say(`NATS runs with mutual TLS and one identity per agent: only the scheduler's may send a migrate or power-off.`);
    n.dim("Starting NATS and the libvirtds...");
    const node = process.execPath;
    starting = Lab.start({
      hosts: 3,
      guests: 0,
      net: o.net,
      stateDir,
      agentCommand: (h) => ({
        cmd: node,
        args: cluster.agent.args.map((a) => a.replace("${host}", h.name)),
        ...(cluster.agent.cwd ? { cwd: cluster.agent.cwd } : {}),
      }),
      schedulerCommand: () => ({
        cmd: node,
        args: cluster.scheduler.args,
        ...(cluster.scheduler.cwd ? { cwd: cluster.scheduler.cwd } : {}),
      }),
    });
    lab = await starting;
    if (stopping) return;
    const l = lab;
    n.dim("Booting the guests (TCG, a few seconds each)...");
    for (const g of GUESTS) {
      signal.throwIfAborted();
      await startGuest(l.host(g.host), { name: g.name, memoryMiB: g.memoryMiB, workload: g.workload });
    }
    n.say(
      table(
        ["guest", "host", "memory", "load"],
        GUESTS.map((g) => [g.name, g.host, mib(g.memoryMiB), g.role]),
      ),
    );
    const api = new ApiClient(cluster.apiUrl, { token: cluster.apiToken });
    await waitHosts(
      api,
      "every host to report with its guests",
      (hs) => hs.length === 3 && hs.every((h) => h.state === "healthy") && hs.reduce((s, h) => s + h.vmCount, 0) >= GUESTS.length,
      { timeoutMs: 120_000, pollMs: 1000, signal },
    );
    n.fact(`the scheduler's API is up at ${cluster.apiUrl}; every agent reports`);
    dashboard = `${cluster.apiUrl}/`;
    n.say(`Watch it live: open ${dashboard} in a browser on this machine and paste the admin token from`);
    n.say(`${join(stateDir, LAB_TOKEN_FILE)} (the page keeps it in that tab only).`);

    const where = async (vm: string) => {
      for (const h of l.hosts) if ((await h.qemuProcs()).some((q) => q.guest === vm)) return h.name;
      return null;
    };
    const ticks = async (vm: string) => {
      const h = await where(vm);
      if (!h) return { host: null, last: 0, first: 0 };
      const f = l.host(h).serialFile(vm);
      return { host: h, last: await readTicks(f), first: await readFirstTick(f) };
    };
    const showHosts = async () => {
      const hs = await hosts(api);
      const vms = (await api.get("/v1/vms", VmsResponse)).vms;
      n.say(
        table(
          ["host", "state", "guests (CPU used, in vCPUs)"],
          hs.map((h) => [
            h.id,
            h.state,
            vms
              .filter((v) => v.host === h.id)
              .map((v) => `${v.name} ${v.cpuUsedVcpus.toFixed(2)}`)
              .join(", ") || "-",
          ]),
        ),
      );
    };
    /** Approves a plan and follows each of its migrations, checking the guest kept running. */
    const apply = async (plan: Plan) => {
      const approved = await api.post(`/v1/plans/${encodeURIComponent(plan.id)}/approve`, {}, ApiPlan);
      n.decided(`plan ${approved.id} approved; its steps go through the dispatcher (limits, preflight, retries).`);
      const moves = approved.steps.filter((s) => s.kind === "migrate");
      for (const s of moves) await follow(s, approved.id);
    };
    /** Follows a plan's move to its end and says what happened to the guest, checked on its QEMU. */
    const follow = async (step: Plan["steps"][number], planId: string) => {
      const vm = step.vm ?? "?";
      const before = await ticks(vm);
      const m = await until(`the migration of ${vm}`, async () =>
        (await api.get(`/v1/migrations?limit=50&vm=${encodeURIComponent(vm)}`, MigrationsResponse)).migrations.find(
          (x) => x.planId === planId,
        ),
      );
      const done = await waitMigration(api, m.id, undefined, { timeoutMs: 300_000, signal });
      if (done.state !== "succeeded") {
        n.warn(
          `${vm} ${done.source} -> ${done.destination}: ${done.state}: ${done.error?.message ?? ""}; it still runs on ${done.vmRunningOn ?? "?"}`,
        );
        return;
      }
      const after = await runsOn(vm, done.destination, before.last);
      // The prediction shown is the approved plan's; the dispatcher predicts again, for a shared link,
      // when the move runs next to others on its hosts: then both figures are shown, each named.
      const predicted =
        step.predictedDurationMs !== null && done.predictedDurationMs !== null && done.predictedDurationMs !== step.predictedDurationMs
          ? `predicted ${ms(step.predictedDurationMs)} in the approved plan, ${ms(done.predictedDurationMs)} when it started next to other moves`
          : `predicted ${ms(step.predictedDurationMs ?? done.predictedDurationMs)}`;
      const claim = `${vm} moved live ${done.source} -> ${done.destination} in ${ms(done.measuredDurationMs)} (${predicted}), downtime ${ms(done.measuredDowntimeMs)}`;
      if (after.host !== done.destination) n.warn(`${claim}, but its QEMU runs on ${after.host ?? "no host"}`);
      else if (after.last <= before.last) {
        const died = await guestKernelDiedIn(l.host(after.host).serialFile(vm), before.last);
        n.warn(
          died === null
            ? `${claim}; its QEMU runs on ${after.host}, tick counter ${before.last} -> ${after.last} (not advancing)`
            : `${claim}; its QEMU runs on ${after.host}, but the guest's kernel died (${died}): QEMU 7.2's TCG live migration lost dirty pages (fixed in QEMU 9.0; KVM hosts are not affected)`,
        );
      } else n.fact(`${claim}; its QEMU now runs on ${after.host}, tick counter ${before.last} -> ${after.last} (continued, not rebooted)`);
    };
    const until = async <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 1000): Promise<T> => {
      const v = await settle(f, timeoutMs, everyMs);
      if (v === undefined) throw new CliError(`the demo gave up waiting for ${what}`, "demo-timeout");
      return v;
    };
    /** Like `until`, for a claim the narration checks: undefined when it does not come true by the deadline. */
    const settle = async <T>(f: () => Promise<T | undefined>, timeoutMs: number, everyMs = 1000): Promise<T | undefined> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = await f();
        if (v !== undefined || Date.now() > end) return v;
        await sleep(everyMs, undefined, { signal });
      }
    };
    /**
     * Where `vm`'s QEMU runs once its tick counter has gone past `since` there (a guest ticks every
     * second; a moved one's first tick on the new host is read from that host's serial file), or what
     * is true after 20 s.
     */
    const runsOn = async (vm: string, host: string, since: number) =>
      (await settle(async () => {
        const t = await ticks(vm);
        return t.host === host && t.last > since ? t : undefined;
      }, 20_000)) ?? (await ticks(vm));
    const stateOf = async (ids: string[]) => new Map((await hosts(api)).filter((h) => ids.includes(h.id)).map((h) => [h.id, h.state]));

    for (const g of GUESTS) await until(`${g.name} to boot`, async () => ((await ticks(g.name)).last > 0 ? true : undefined), 180_000);
    n.fact(
      `every guest has booted and ticks (${(await Promise.all(GUESTS.map(async (g) => `${g.name} ${(await ticks(g.name)).last}`))).join(", ")})`,
    );

    // -- 1. Balance -------------------------------------------------------------------------
    n.step(1, "A hot host is balanced");
    n.say("web and batch both burn CPU on h1. Drover waits until h1 has been hot for a few reports (a sustained");
    n.say("load, not a spike), then asks its balance policy for the moves with the best benefit per migration cost.");
    await sleep(8000, undefined, { signal });
    await showHosts();
    const balance = await until(
      "a balance plan with a move",
      async () => {
        const p = await api.post("/v1/plan", { kind: "balance" }, ApiPlan);
        return p.steps.some((s) => s.kind === "migrate") ? p : undefined;
      },
      180_000,
      5000,
    );
    n.decided("the balance plan:");
    printPlan(balance, n.say);
    await apply(balance);
    await sleep(4000, undefined, { signal });
    const again = await api.post("/v1/plan", { kind: "balance" }, ApiPlan);
    const moved = new Map(balance.steps.filter((s) => s.kind === "migrate").map((s) => [s.vm, s.source]));
    const repeat = again.steps.filter((s) => s.kind === "migrate" && moved.has(s.vm));
    if (again.steps.length === 0) n.decided("planning again right away proposes no move: no ping-pong.");
    else {
      n.decided(
        `planning again right away proposes ${again.steps.length} further move(s), ${repeat.length === 0 ? "none of them moving a VM it just moved (no ping-pong)" : `${repeat.length} of them moving a VM it just moved`}:`,
      );
      for (const s of again.steps) n.dim(`  ${s.kind} ${s.vm ?? s.host ?? ""} ${s.source ?? ""} -> ${s.destination ?? ""}: ${s.reason}`);
    }
    await showHosts();

    // -- 2. Drain ---------------------------------------------------------------------------
    n.step(2, "A host is drained for maintenance, then returned");
    n.say("The operator types `drover drain h2 --wait`: h2 takes no new VMs and its guests are moved off.");
    const m0 = await api.post("/v1/hosts/h2/drain", { powerOff: false }, ApiMaintenance);
    n.decided(`maintenance ${m0.id}: ${m0.vmsAtStart} VM(s) to move off h2.`);
    const dbBefore = await ticks("db");
    let lastLine = "";
    const m1 = await waitDrain(
      api,
      m0.id,
      (x) => {
        const line = `  ${x.state}: ${x.vmsLeft} of ${x.vmsAtStart} left (${x.message})`;
        if (line !== lastLine) n.dim(line);
        lastLine = line;
      },
      { timeoutMs: 300_000, signal, pollMs: 1500 },
    );
    n.decided(drainOutcome(m1));
    const dbMove = (await api.get(`/v1/migrations?limit=5&vm=db`, MigrationsResponse)).migrations.find((x) => x.source === "h2");
    if (dbMove) {
      const dbAfter = await runsOn("db", dbMove.destination, dbBefore.last);
      const claim = `db's QEMU runs on ${dbAfter.host ?? "no host"}, tick counter ${dbBefore.last} -> ${dbAfter.last}`;
      if (dbAfter.host === dbMove.destination && dbAfter.last > dbBefore.last) n.fact(`${claim} (continued, not rebooted)`);
      else n.warn(`${claim}; the drain moved it to ${dbMove.destination}`);
    }
    await api.post("/v1/hosts/h2/undrain", undefined, ApiMaintenance);
    n.decided("h2 is back in service (`drover undrain h2`); nothing moves back by itself.");
    await showHosts();

    // -- 3. Consolidate ---------------------------------------------------------------------
    n.step(3, "Night: consolidation empties a host and powers it off");
    n.say("Evening: the web traffic and the batch job end (their guests shut down). The consolidation window");
    n.say("is open (the demo configured it to cover now): Drover packs the VMs onto as few hosts as its CPU band");
    n.say("allows, and powers off the emptied hosts that the cluster can spare.");
    for (const vm of ["web", "batch"]) {
      const h = await where(vm);
      if (!h) continue;
      const uri = l.host(h).uri;
      await run("virsh", ["-c", uri, "destroy", vm]).catch(() => undefined);
      await run("virsh", ["-c", uri, "undefine", vm]).catch(() => undefined);
    }
    await until("the scheduler to see web and batch gone", async () =>
      (await api.get("/v1/vms", VmsResponse)).vms.some((v) => v.name === "web" || v.name === "batch") ? undefined : true,
    );
    n.dim("Waiting for a few reports of the quieter load...");
    await sleep(15_000, undefined, { signal });
    await showHosts();
    const consolidate = await until(
      "a consolidation plan that powers a host off",
      async () => {
        const p = await api.post("/v1/plan", { kind: "consolidate" }, ApiPlan);
        return p.steps.some((s) => s.kind === "power-off") ? p : undefined;
      },
      180_000,
      5000,
    );
    n.decided("the consolidation plan:");
    printPlan(consolidate, n.say);
    await apply(consolidate);
    const offHosts = consolidate.steps.filter((s) => s.kind === "power-off").map((s) => s.host ?? "");
    await settle(async () => ([...(await stateOf(offHosts)).values()].every((st) => st === "standby") ? true : undefined), 240_000);
    for (const [id, st] of await stateOf(offHosts)) {
      await l.host(id).refresh();
      const lab = `lab power ${l.host(id).power}, libvirtd ${l.host(id).running ? "running" : "stopped"}`;
      if (st === "standby") n.fact(`${id} is in standby: its agent powered it off (${lab})`);
      else n.warn(`${id} was to be powered off but is ${st} after 240 s (${lab})`);
    }
    await showHosts();

    // -- 4. Wake ----------------------------------------------------------------------------
    n.step(4, "Morning: load rises and a host is woken");
    const on = (await hosts(api)).find((h) => h.state === "healthy");
    if (!on) throw new CliError("no host is on", "demo");
    n.say(`Two busy report jobs start on ${on.id}. When the forecast demand no longer fits under the band on the`);
    n.say("hosts that are on, Drover should wake a standby host (Wake-on-LAN, unicast to the lab host) and spread");
    n.say("the load onto it. The demo checks each of these on the hosts themselves and says what really happened.");
    const reports = ["report1", "report2"];
    for (const name of reports) await startGuest(l.host(on.id), { name, memoryMiB: 96, workload: { busy: 1, dirtyMb: 0 } });
    const wake = await until(
      "a plan that wakes a host",
      async () => {
        const p = await api.post("/v1/plan", { kind: "consolidate" }, ApiPlan);
        return p.steps.some((s) => s.kind === "wake") ? p : undefined;
      },
      240_000,
      5000,
    );
    n.decided("the consolidation plan now:");
    printPlan(wake, n.say);
    await api.post(`/v1/plans/${encodeURIComponent(wake.id)}/approve`, {}, ApiPlan);
    n.decided(`plan ${wake.id} approved.`);
    const woken = wake.steps.filter((s) => s.kind === "wake").map((s) => s.host ?? "");
    await settle(async () => ([...(await stateOf(woken)).values()].every((st) => st === "healthy") ? true : undefined), 300_000);
    for (const [id, st] of await stateOf(woken)) {
      await l.host(id).refresh();
      if (st === "healthy") n.fact(`${id} woke (lab power ${l.host(id).power}) and its agent reports again`);
      else n.warn(`${id} was to be woken but is ${st} after 300 s (lab power ${l.host(id).power})`);
    }
    // The plan's moves wait for their wakes: follow the plan to its end, then check where the jobs run.
    const ended = await settle(async () => {
      const p = await api.get(`/v1/plans/${encodeURIComponent(wake.id)}`, ApiPlan);
      return ["done", "failed", "superseded", "expired", "rejected"].includes(p.status) ? p : undefined;
    }, 300_000);
    const last = ended ?? (await api.get(`/v1/plans/${encodeURIComponent(wake.id)}`, ApiPlan));
    n.decided(`plan ${last.id} is ${last.status}${ended ? "" : " after 300 s"}.`);
    for (const s of last.steps.filter((x) => x.kind === "migrate")) {
      if (s.state === "done" || s.state === "running") await follow(s, last.id);
      else n.warn(`${s.vm} ${s.source} -> ${s.destination}: step ${s.state}`);
    }
    const placed = async () => new Map(await Promise.all(reports.map(async (r) => [r, await where(r)] as const)));
    let at = await placed();
    if (new Set(at.values()).size < reports.length) {
      // Still together. Spreading load is balancing's job: ask for a balance plan once the woken
      // host has reported a few times, and say what it answers.
      n.say("The wake plan itself moves nothing; spreading the load is balancing's job. Drover is asked for a balance plan.");
      const spread = await settle(
        async () => {
          const p = await api.post("/v1/plan", { kind: "balance" }, ApiPlan);
          return p.steps.some((s) => s.kind === "migrate") ? p : undefined;
        },
        60_000,
        5000,
      );
      if (spread) {
        n.decided("the balance plan:");
        printPlan(spread, n.say);
        await apply(spread);
        at = await placed();
      } else {
        const last = await api.post("/v1/plan", { kind: "balance" }, ApiPlan);
        n.warn(`after 60 s Drover still proposes no move to spread the load (imbalance ${last.metrics.imbalanceBefore.toFixed(3)}):`);
        for (const x of last.notMoved.slice(0, 6)) n.warn(`  ${x.vm} stays on ${x.host}: ${x.reason} [${x.code}]`);
      }
    }
    const hostsOf = [...at.entries()].map(([r, h]) => `${r} on ${h ?? "no host"}`).join(", ");
    if (new Set(at.values()).size === reports.length) n.fact(`the load is spread: ${hostsOf} (where their QEMUs run)`);
    else n.warn(`the load is not spread: ${hostsOf} (where their QEMUs run)`);
    await sleep(3000, undefined, { signal });
    await showHosts();

    n.step(5, "What Drover recorded");
    // Config records and dry runs that were not run (the demo's polling) are left out.
    const hist = (await api.get("/v1/history?limit=300", HistoryResponse)).entries
      .filter((e) => e.kind !== "config" && (e.kind !== "plan" || e.outcome === "done" || e.outcome === "failed"))
      .slice(0, 30)
      .reverse();
    n.say(
      table(
        ["time", "kind", "host", "VM", "outcome", "summary"],
        hist.map((e) => [
          new Date(e.timeMs).toISOString().slice(11, 19),
          e.kind,
          e.host ?? "-",
          e.vm ?? "-",
          e.outcome ?? "-",
          e.summary.slice(0, 90),
        ]),
      ),
    );
    const util = (await hosts(api)).map((h) => `${h.id} ${h.state} ${pct(h.cpuFraction)}`).join(", ");
    n.dim(`(${util})`);
    n.say("\nThe same, on a real cluster: drover status | hosts | vms | plan | migrate | drain | power | history.");
    if (o.keep) await keepUp(api.base, dashboard, join(stateDir, LAB_TOKEN_FILE), onSignal);
  } catch (e) {
    // After Ctrl-C the lab goes away under the scenes' feet: their errors are not the story.
    if (stopping) return;
    throw e;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await stop();
  }
}

/**
 * `--keep`: the lab stays up (this process holds its Wake-on-LAN listeners) until Ctrl-C or SIGTERM,
 * which then stop it as at the end of every demo, and the demo exits 0.
 */
async function keepUp(api: string, dashboard: string, tokenFile: string, onSignal: () => void): Promise<void> {
  n.say(`\nThe lab stays up (--keep): the dashboard is at ${dashboard} (paste the token from ${tokenFile}).`);
  // The demo's lab lives in a directory of its own, not where `drover` looks for a lab: say where it is.
  n.say(`The CLI, from another terminal: DROVER_API=${api} DROVER_TOKEN_FILE=${tokenFile} npm run drover -- status`);
  n.say("Press Ctrl-C to stop it (everything the demo started, by pid).");
  process.removeListener("SIGINT", onSignal);
  process.removeListener("SIGTERM", onSignal);
  const awake = setInterval(() => undefined, 3_600_000);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(awake);
}
