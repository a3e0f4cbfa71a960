// `drover status | hosts | vms | plan | migrate | abort | drain | undrain | host forget | power | history`: thin commands
// over the scheduler's HTTP API. Human tables by default; `--json` prints the API's reply, validated
// against @drover/protocol's schemas (the documented, stable contract).
import type { Command } from "commander";
import {
  ApiMaintenance,
  ApiMigration,
  ApiPlan,
  ApiPowerAction,
  ClusterName,
  HistoryKinds,
  HistoryResponse,
  HostId,
  StatusResponse,
  VmsResponse,
  VmRef,
  ApiHost,
  ModesResponse,
  PolicyModes,
  RunTimeModeKinds,
  ScheduleKinds,
  ScheduleRequest,
  SchedulesResponse,
  timeArg,
} from "@drover/protocol";
import { ApiClient } from "../api-client.js";
import { resolveCa, resolveToken } from "../api-auth.js";
import { CliError, ExitCode, usageError } from "../errors.js";
import { ago, mib, ms, pct, printJson, table, time } from "../format.js";
import { resolveApiUrl } from "../lab-setup.js";
import { drainSettled, hosts as listHosts, waitDrain, waitMigration, waitPower, type Maintenance, type Migration } from "../ops.js";
import { progress } from "../progress.js";
import { registerHistoryLoad } from "./history-load.js";

interface Global {
  api?: string;
  tokenFile?: string;
  caFile?: string;
  json?: boolean;
}

export function client(cmd: Command): ApiClient {
  const g = cmd.optsWithGlobals() as Global;
  return new ApiClient(resolveApiUrl(g.api), {
    token: resolveToken(g.tokenFile),
    ca: resolveCa(g.caFile),
    insecure: process.env["DROVER_API_INSECURE"] === "1",
    note: (m) => process.stderr.write(`drover: ${m}\n`),
  });
}

function checkHost(arg: string, what = "HOST"): string {
  const r = HostId.safeParse(arg);
  if (!r.success) throw usageError(`${what} ${JSON.stringify(arg)} is not a host id: ${r.error.issues[0]?.message ?? "invalid"}`);
  return r.data;
}

/** Unknown hosts are refused here, naming the known ones, before anything is sent. */
async function knownHost(api: ApiClient, arg: string): Promise<ApiHost> {
  const id = checkHost(arg);
  const all = await listHosts(api);
  const h = all.find((x) => x.id === id);
  if (!h)
    throw new CliError(
      `unknown host ${JSON.stringify(id)} (the scheduler knows ${all.map((x) => x.id).join(", ") || "no host"})`,
      "unknown-host",
      ExitCode.Usage,
    );
  return h;
}

export function printPlan(p: ApiPlan, out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
  out(`Plan ${p.id}: ${p.kind}${p.host ? ` ${p.host}` : ""} (policy ${p.policy}), ${p.status}, requested by ${p.requestedBy}`);
  const m = p.metrics;
  out(
    `  imbalance ${m.imbalanceBefore.toFixed(3)} -> ${m.imbalanceAfter.toFixed(3)}, active hosts ${m.activeHostsBefore} -> ${m.activeHostsAfter}, total migration cost ${m.totalMigrationCost.toFixed(2)}`,
  );
  if (p.steps.length === 0) out("  No moves: nothing to do.");
  else {
    out(
      table(
        ["#", "step", "VM", "from", "to", "cost", "predicted", "downtime", "state", "reason"],
        p.steps.map((s) => [
          s.index,
          s.kind,
          s.vm ?? "-",
          s.source ?? s.host ?? "-",
          s.destination ?? "-",
          s.cost === null ? "-" : s.cost.toFixed(2),
          ms(s.predictedDurationMs),
          ms(s.predictedDowntimeMs),
          s.state,
          `${s.reason} [${s.code}]`,
        ]),
      ),
    );
  }
  for (const n of p.notMoved) out(`  not moved: ${n.vm} on ${n.host}: ${n.reason} [${n.code}]`);
  for (const b of p.blocked) out(`  blocked by rule ${b.rule}: ${b.reason} [${b.code}]${b.vms.length ? ` (VMs ${b.vms.join(", ")})` : ""}`);
  for (const d of p.deferred) out(`  step ${d.index} deferred: ${d.reason} [${d.code}]`);
}

/** A destination host, with its cluster when the move leaves this one. */
const dest = (m: Migration) => (m.destinationCluster ? `${m.destination} (cluster ${m.destinationCluster})` : m.destination);

function printMigration(m: Migration): void {
  const took = m.measuredDurationMs !== null ? `took ${ms(m.measuredDurationMs)}, predicted ${ms(m.predictedDurationMs)}` : "";
  const down = m.measuredDowntimeMs !== null ? `, downtime ${ms(m.measuredDowntimeMs)}` : "";
  if (m.state === "succeeded") process.stdout.write(`${m.vm} now runs on ${dest(m)} (migration ${m.id}; ${took}${down})\n`);
  else if (MIGRATION_ACTIVE.has(m.state)) process.stdout.write(`migration ${m.id}: ${m.vm} ${m.source} -> ${dest(m)}, ${m.state}\n`);
  else
    process.stdout.write(
      `migration ${m.id} of ${m.vm} ${m.source} -> ${dest(m)} ${m.state}: ${m.error?.message ?? "no error recorded"}; ${m.vm} runs on ${m.vmRunningOn ?? "?"}\n`,
    );
}
const MIGRATION_ACTIVE = new Set<Migration["state"]>(["queued", "preflight", "running"]);

export function drainOutcome(m: Maintenance): string {
  if (m.state === "in-maintenance") return `${m.host} is in maintenance${m.powerOff ? ` (${m.message})` : ""}`;
  if (m.state === "powered-off") return `${m.host} is in maintenance and powered off`;
  if (m.state === "blocked") {
    return [
      `${m.host} cannot be drained: ${m.blockers.length} VM(s) cannot leave`,
      ...m.blockers.map((b) => `  ${b.vm}: ${b.reason} [${b.code}]`),
    ].join("\n");
  }
  if (m.state === "ended") return `maintenance ${m.id} of ${m.host} ended: ${m.message}`;
  if (m.state === "failed") return `drain of ${m.host} failed: ${m.message}`;
  return `${m.host} is ${m.state}: ${m.vmsLeft} of ${m.vmsAtStart} VM(s) left (${m.message})`;
}

export function registerApiCommands(program: Command): void {
  program.option(
    "--api <url>",
    "scheduler API, or several schedulers' separated by commas (changes go to the leader); http:// only to this machine unless $DROVER_API_INSECURE=1 (default: $DROVER_API, else the lab's, else http://127.0.0.1:7070)",
  );
  program.option(
    "--token-file <file>",
    "API token file, mode 600 (default: $DROVER_TOKEN, else $DROVER_TOKEN_FILE, else ~/.config/drover/token, else the lab's)",
  );
  program.option("--ca-file <file>", "PEM CA to trust for an https:// API (default: $DROVER_CA_FILE)");

  program
    .command("status")
    .description("the cluster as the scheduler sees it")
    .option("--json", "print the API's StatusResponse")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const s = await client(cmd).get("/v1/status", StatusResponse);
      if (o.json) return printJson(s);
      const states = Object.entries(s.hosts.byState)
        .map(([k, v]) => `${v} ${k}`)
        .join(", ");
      const w = s.consolidationWindow;
      const lines = [
        `cluster ${s.cluster}, scheduler up ${ms(s.nowMs - s.startedAtMs)}`,
        ...(s.store && !s.store.writable
          ? [
              `STORE NOT WRITABLE for ${ms(s.nowMs - (s.store.sinceMs ?? s.nowMs))}: ${s.store.reason ?? "unknown"}; not planning, moving, draining or powering hosts (reads and moves in flight go on)`,
            ]
          : []),
        `hosts: ${s.hosts.total} (${states || "none"})`,
        `VMs: ${s.vms}`,
        `migrations: ${s.migrations.inFlight} in flight, ${s.migrations.queued} queued (limits: ${s.migrations.limits.perSource}/source, ${s.migrations.limits.perDestination}/destination, ${s.migrations.limits.perCluster}/cluster)`,
        `modes: balance ${s.modes.balance}, consolidate ${s.modes.consolidate}, drain ${s.modes.drain}`,
        `consolidation window: ${w.start ?? "-"}..${w.end ?? "-"} (${w.active ? "open" : "closed"})`,
        `plans awaiting approval: ${s.plansAwaitingApproval}, open maintenance: ${s.openMaintenance}`,
        `reports: ${s.reports.received} received, ${s.reports.invalid} invalid`,
        ...controlLines(s.control),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });

  program
    .command("hosts")
    .description("hosts: state, load, VMs")
    .option("--json", "print the API's HostsResponse")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const api = client(cmd);
      const hs = await listHosts(api);
      if (o.json) return printJson({ hosts: hs });
      const now = Date.now();
      process.stdout.write(
        `${table(
          ["host", "state", "cpu", "memory", "VMs", "libvirt", "last report", "maintenance"],
          hs.map((h) => [
            h.id,
            h.state + (h.wakeFailed ? " (wake failed)" : ""),
            `${pct(h.cpuFraction)} of ${h.cpus}`,
            `${mib(h.memoryUsedMiB)} / ${mib(h.memoryMiB)}`,
            h.vmCount,
            h.libvirtReachable ? "ok" : "down",
            ago(now, h.lastSeenMs),
            h.maintenanceId ?? "-",
          ]),
        )}\n`,
      );
    });

  program
    .command("vms")
    .description("VMs and where they run")
    .option("--json", "print the API's VmsResponse")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const r = await client(cmd).get("/v1/vms", VmsResponse);
      if (o.json) return printJson(r);
      // The agent reports the guest's own use (balloon statistics) when it can, else the QEMU process's
      // resident memory; only the latter exceeds what the guest was given, so such a figure is marked.
      const overGiven = (v: (typeof r.vms)[number]) => v.memoryUsedMiB > v.memoryMiB;
      process.stdout.write(
        `${table(
          ["VM", "host", "state", "vCPUs", "cpu used", "memory used / given", "tags", "rules (from)"],
          r.vms.map((v) => [
            v.name,
            v.host + (v.migrating ? ` (migrating${v.alsoOn.length ? ` to ${v.alsoOn.join(",")}` : ""})` : ""),
            v.state,
            v.vcpus,
            v.cpuUsedVcpus.toFixed(2),
            `${mib(v.memoryUsedMiB)}${overGiven(v) ? "*" : ""} / ${mib(v.memoryMiB)}`,
            v.tags.join(",") || "-",
            v.rules.map((x) => `${x.what} (${x.from === "config" ? `config ${x.rule}` : x.from})`).join("; ") || "-",
          ]),
        )}\n`,
      );
      if (r.vms.some(overGiven))
        process.stdout.write(
          "* more than the guest was given: the QEMU process's resident memory, its own overhead in (no balloon statistics)\n",
        );
      // Rule problems are the operator's to fix: each on its own line under the table.
      for (const v of r.vms) for (const p of v.ruleProblems) process.stdout.write(`${v.name}: ${p}\n`);
    });

  program
    .command("plan")
    .description("dry run: the moves a policy proposes, each with reason and cost; `plan approve ID` runs one, `plan reject ID` drops it")
    .argument("[kind]", "balance (default) | consolidate | drain HOST | approve ID | reject ID")
    .argument("[target]", "HOST for drain, plan ID for approve and reject")
    .option("--json", "print the API's ApiPlan")
    .action(async (kind: string | undefined, target: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const api = client(cmd);
      const k = kind ?? "balance";
      let plan: ApiPlan;
      if (k === "approve") {
        if (!target) throw usageError("plan approve needs the plan ID (printed by `drover plan`)");
        plan = await api.post(`/v1/plans/${encodeURIComponent(target)}/approve`, {}, ApiPlan);
      } else if (k === "reject") {
        if (!target) throw usageError("plan reject needs the plan ID (printed by `drover plan`)");
        plan = await api.post(`/v1/plans/${encodeURIComponent(target)}/reject`, {}, ApiPlan);
      } else if (k === "balance" || k === "consolidate") {
        if (target !== undefined) throw usageError(`plan ${k} takes no further argument (got ${JSON.stringify(target)})`);
        plan = await api.post("/v1/plan", { kind: k }, ApiPlan);
      } else if (k === "drain") {
        if (!target) throw usageError("plan drain needs a HOST");
        const h = await knownHost(api, target);
        plan = await api.post("/v1/plan", { kind: "drain", host: h.id }, ApiPlan);
      } else {
        throw usageError(`unknown plan kind ${JSON.stringify(k)}: expected balance, consolidate, drain HOST, approve ID or reject ID`);
      }
      if (o.json) return printJson(plan);
      printPlan(plan);
      if (plan.status === "proposed" && plan.steps.length > 0) process.stdout.write(`Approve with: drover plan approve ${plan.id}\n`);
    });

  program
    .command("mode")
    .description("what a scheduled policy's plans do from now on; recorded in the history with who changed it, kept across restarts")
    .argument("<policy>", RunTimeModeKinds.join(" | "))
    .argument("<mode>", PolicyModes.join(" | "))
    .option("--json", "print the API's ModesResponse")
    .action(async (policy: string, mode: string, o: { json?: boolean }, cmd: Command) => {
      if (!(RunTimeModeKinds as readonly string[]).includes(policy))
        throw usageError(`mode takes a policy (${RunTimeModeKinds.join(", ")}), not ${JSON.stringify(policy)}`);
      if (!(PolicyModes as readonly string[]).includes(mode))
        throw usageError(`mode must be one of ${PolicyModes.join(", ")}, not ${JSON.stringify(mode)}`);
      const r = await client(cmd).post(`/v1/modes/${policy}`, { mode }, ModesResponse);
      if (o.json) return printJson(r);
      process.stdout.write(
        `${Object.entries(r.modes)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ")}\n`,
      );
    });

  program
    .command("schedule")
    .description("when consolidation runs (its window) from now on; recorded in the history with who changed it, kept across restarts")
    .argument("<policy>", ScheduleKinds.join(" | "))
    .requiredOption("--start <HH:MM>", "the window opens at this time of day")
    .requiredOption("--end <HH:MM>", "and closes at this one (before the start: it crosses midnight)")
    .option("--days <days>", "days it opens on: * or mon..sun, ranges allowed (mon-fri,sun)", "*")
    .option("--timezone <tz>", "utc | local (the scheduler host's)", "utc")
    .option("--restore-before-end <minutes>", "wake hosts and spread the load this long before it ends", "30")
    .option(
      "--restore-margin <minutes>",
      "with a seasonal forecast: each host is woken this much earlier than its measured wake needs, all of them this long before the end",
      "5",
    )
    .option("--json", "print the API's SchedulesResponse")
    .action(
      async (
        policy: string,
        o: { start: string; end: string; days: string; timezone: string; restoreBeforeEnd: string; restoreMargin: string; json?: boolean },
        cmd: Command,
      ) => {
        if (!(ScheduleKinds as readonly string[]).includes(policy))
          throw usageError(`schedule takes a policy (${ScheduleKinds.join(", ")}), not ${JSON.stringify(policy)}`);
        const minutes = (flag: string, v: string): number => {
          if (!/^\d+$/.test(v)) throw usageError(`--${flag} must be whole minutes, not ${JSON.stringify(v)}`);
          return Number(v) * 60_000;
        };
        const body = {
          start: o.start,
          end: o.end,
          days: o.days,
          timezone: o.timezone,
          restoreBeforeEndMs: minutes("restore-before-end", o.restoreBeforeEnd),
          restoreMarginMs: minutes("restore-margin", o.restoreMargin),
        };
        // Checked here too, so a typo is a usage error naming the option, before any request.
        const checked = ScheduleRequest.safeParse(body);
        if (!checked.success) {
          const flag: Record<string, string> = { restoreBeforeEndMs: "restore-before-end", restoreMarginMs: "restore-margin" };
          throw usageError(checked.error.issues.map((i) => `--${flag[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join("; "));
        }
        const r = await client(cmd).post(`/v1/schedules/${policy}`, checked.data, SchedulesResponse);
        if (o.json) return printJson(r);
        const w = r.schedules.consolidate;
        process.stdout.write(
          `consolidate: ${w.start}..${w.end} on ${w.days} (${w.timezone}), restore ${w.restoreBeforeEndMs / 60_000} min before the end ` +
            `(by the forecast: each host ${w.restoreMarginMs / 60_000} min ahead of its wake)\n`,
        );
      },
    );

  program
    .command("migrate")
    .description("one live migration through the dispatcher; with --cluster, to a host of another cluster")
    .argument("<vm>", "VM name or uuid")
    .argument("[host]", "destination host (with --cluster: a host of that cluster; left out, the scheduler chooses one)")
    .option("--cluster <name>", "move the VM to this cluster (one of the scheduler's peerClusters)")
    .option("--wait", "follow it to its end with a progress bar")
    .option("--json", "print the API's ApiMigration (the final one with --wait)")
    .action(async (vm: string, hostArg: string | undefined, o: { cluster?: string; wait?: boolean; json?: boolean }, cmd: Command) => {
      if (vm.trim() === "") throw usageError("migrate: VM must not be empty");
      if (o.cluster !== undefined && !ClusterName.safeParse(o.cluster).success) {
        throw usageError(`--cluster ${JSON.stringify(o.cluster)} is not a cluster name (1-128 of A-Z a-z 0-9 _ -)`);
      }
      if (o.cluster === undefined && hostArg === undefined) throw usageError("migrate: name a destination HOST, or --cluster B");
      const api = client(cmd);
      // A host of another cluster is not in this scheduler's host list: the scheduler checks it there.
      const host = hostArg === undefined ? undefined : o.cluster === undefined ? (await knownHost(api, hostArg)).id : hostArg;
      let m = await api.post(
        "/v1/migrations",
        { vm, ...(host ? { host } : {}), ...(o.cluster ? { cluster: o.cluster } : {}) },
        ApiMigration,
      );
      if (o.wait) {
        const bar = progress(`${m.vm} ${m.source} -> ${dest(m)}`, o.json);
        try {
          m = await waitMigration(api, m.id, (x) =>
            bar.update(x.state === "succeeded" ? 1 : (x.progress?.fraction ?? 0), x.progress ? `${x.state} ${x.progress.phase}` : x.state),
          );
        } finally {
          bar.stop();
        }
      }
      if (o.json) printJson(m);
      else printMigration(m);
      if (o.wait && m.state !== "succeeded") process.exitCode = ExitCode.Failed;
    });

  program
    .command("abort")
    .description("abort a migration: one not sent yet is cancelled, a running one is aborted on its source (the guest stays there)")
    .argument("<move>", "migration id (drover history --kind migration, drover migrate --json)")
    .option("--wait", "follow it to its end")
    .option("--json", "print the API's ApiMigration (the final one with --wait)")
    .action(async (move: string, o: { wait?: boolean; json?: boolean }, cmd: Command) => {
      if (move.trim() === "") throw usageError("abort: MOVE (a migration id) must not be empty");
      const api = client(cmd);
      let m = await api.post(`/v1/migrations/${encodeURIComponent(move)}/abort`, {}, ApiMigration);
      if (o.wait) m = await waitMigration(api, m.id, () => undefined);
      if (o.json) printJson(m);
      else printMigration(m);
    });

  program
    .command("drain")
    .description("maintenance: move every VM off HOST; it ends in maintenance")
    .argument("<host>")
    .option("--wait", "follow the drain until the host is empty or blocked")
    .option("--power-off", "power the host off once it is empty")
    .option("--to-cluster <name>", "move the VMs to this cluster's hosts (one of the scheduler's peerClusters): evacuating a site")
    .option("--json", "print the API's ApiMaintenance (the final one with --wait)")
    .action(async (hostArg: string, o: { wait?: boolean; powerOff?: boolean; toCluster?: string; json?: boolean }, cmd: Command) => {
      if (o.toCluster !== undefined && !ClusterName.safeParse(o.toCluster).success) {
        throw usageError(`--to-cluster ${JSON.stringify(o.toCluster)} is not a cluster name (1-128 of A-Z a-z 0-9 _ -)`);
      }
      const api = client(cmd);
      const host = (await knownHost(api, hostArg)).id;
      const body = { powerOff: o.powerOff ?? false, ...(o.toCluster ? { toCluster: o.toCluster } : {}) };
      let m = await api.post(`/v1/hosts/${encodeURIComponent(host)}/drain`, body, ApiMaintenance);
      if (o.wait && !drainSettled(m)) {
        const bar = progress(`drain ${host}`, o.json);
        try {
          m = await waitDrain(api, m.id, (x) =>
            bar.update(
              x.vmsAtStart === 0 ? 1 : (x.vmsAtStart - x.vmsLeft) / x.vmsAtStart,
              `${x.vmsLeft} of ${x.vmsAtStart} VM(s) left: ${x.message}`,
            ),
          );
        } finally {
          bar.stop();
        }
      }
      if (o.json) printJson(m);
      else if (o.wait) process.stdout.write(`${drainOutcome(m)}\n`);
      else {
        const to = m.toCluster ? ` to cluster ${m.toCluster}` : "";
        process.stdout.write(`draining ${host}${to}: ${m.vmsLeft} VM(s) to move (maintenance ${m.id}); follow with: drover hosts\n`);
      }
      if (o.wait && m.state === "blocked") process.exitCode = ExitCode.Blocked;
      else if (o.wait && m.state === "failed") process.exitCode = ExitCode.Failed;
    });

  program
    .command("undrain")
    .description("return HOST to service")
    .argument("<host>")
    .option("--json", "print the API's ApiMaintenance")
    .action(async (hostArg: string, o: { json?: boolean }, cmd: Command) => {
      const api = client(cmd);
      const host = (await knownHost(api, hostArg)).id;
      const m = await api.post(`/v1/hosts/${encodeURIComponent(host)}/undrain`, undefined, ApiMaintenance);
      if (o.json) return printJson(m);
      process.stdout.write(`${host} is back in service (maintenance ${m.id} ended)\n`);
    });

  program
    .command("host")
    .description("host lifecycle")
    .command("forget")
    .description("remove a host that no longer exists (refused while it reports or a move, power action or drain involves it)")
    .argument("<host>")
    .option("--json", "print the API's ApiHost (the host as it was)")
    .action(async (hostArg: string, o: { json?: boolean }, cmd: Command) => {
      const host = checkHost(hostArg);
      const h = await client(cmd).post(`/v1/hosts/${encodeURIComponent(host)}/forget`, undefined, ApiHost);
      if (o.json) return printJson(h);
      process.stdout.write(`${host} forgotten (${h.vmCount} VM(s) it last reported are gone from the cluster; its history stays)\n`);
    });

  program
    .command("power")
    .description("power a host off (only if it is safe) or wake it")
    .argument("<action>", "off | on")
    .argument("<host>")
    .option("--wait", "wait until the action is done")
    .option("--json", "print the API's ApiPowerAction")
    .action(async (action: string, hostArg: string, o: { wait?: boolean; json?: boolean }, cmd: Command) => {
      if (action !== "off" && action !== "on") throw usageError(`power takes off or on, not ${JSON.stringify(action)}`);
      const api = client(cmd);
      const host = (await knownHost(api, hostArg)).id;
      let p = await api.post(`/v1/hosts/${encodeURIComponent(host)}/power`, { action }, ApiPowerAction);
      if (o.wait && p.state === "pending") p = await waitPower(api, p.id, undefined, { timeoutMs: 6 * 60_000 });
      if (o.json) printJson(p);
      else
        process.stdout.write(
          `power ${action} ${host}: ${p.state}${p.method ? ` via ${p.method}` : ""}${p.error ? `: ${p.error.message}` : ""} (${p.id})\n`,
        );
      if (p.state === "failed" || p.state === "refused") process.exitCode = ExitCode.Failed;
    });

  // The listing is `history`'s default subcommand, not `history` itself: a parent's options are
  // parsed before its subcommand's, so options of the names `history load` has too (--host, --vm,
  // --since, --json) would be taken from `load`, which would then run on the cluster's total.
  const history = program.command("history").description("what Drover did (`history [list]`) and the load it recorded (`history load`)");
  history
    .command("list", { isDefault: true })
    .description("what Drover did: plans, migrations, maintenance, power, config, host events and the commands agents ran, newest first")
    .option("--limit <n>", "entries (1..1000)", "50")
    .option("--kind <kind>", `only ${HistoryKinds.join("|")}`)
    .option(
      "--since <when>",
      "only entries at or after this: an ISO time (2026-12-05T04:00:00Z) or a duration back from now (90s, 30m, 2h, 1d)",
    )
    .option("--host <host>", "only entries that involve this host")
    .option("--vm <vm>", "only entries that involve this VM (name or uuid)")
    .option("--json", "print the API's HistoryResponse")
    // `history WORD`, WORD no subcommand, lands here as the default's argument: named below, not as
    // commander's "too many arguments for 'list'" (a word the operator did not type).
    .allowExcessArguments()
    .action(async (o: { limit: string; kind?: string; since?: string; host?: string; vm?: string; json?: boolean }, cmd: Command) => {
      const stray = cmd.args[0];
      if (stray !== undefined)
        throw usageError(
          `history has no subcommand or argument ${JSON.stringify(stray)} (history [list] [options], or history load [options])`,
        );
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw usageError(`--limit must be an integer 1..1000, not ${JSON.stringify(o.limit)}`);
      if (o.kind !== undefined && !(HistoryKinds as readonly string[]).includes(o.kind))
        throw usageError(`--kind must be one of ${HistoryKinds.join(", ")}`);
      const host = o.host === undefined ? undefined : checkHost(o.host, "--host");
      if (o.vm !== undefined && !VmRef.safeParse(o.vm).success)
        throw usageError(`--vm ${JSON.stringify(o.vm)} is not a VM name or uuid (1..256 characters)`);
      const sinceMs = o.since === undefined ? undefined : sinceToMs(o.since, Date.now());
      const q = new URLSearchParams({
        limit: String(limit),
        ...(o.kind ? { kind: o.kind } : {}),
        ...(sinceMs !== undefined ? { sinceMs: String(sinceMs) } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(o.vm !== undefined ? { vm: o.vm } : {}),
      });
      const r = await client(cmd).get(`/v1/history?${q.toString()}`, HistoryResponse);
      if (o.json) return printJson(r);
      process.stdout.write(
        `${table(
          ["time", "kind", "id", "host", "VM", "outcome", "by", "summary"],
          r.entries.map((e) => [
            time(e.timeMs),
            e.kind,
            e.id,
            e.host ?? "-",
            e.vm ?? "-",
            e.outcome ?? "-",
            e.requestedBy ?? "-",
            e.summary,
          ]),
        )}\n`,
      );
    });
  registerHistoryLoad(history);
}

/** `--since`: an ISO 8601 time, or a duration back from `nowMs` ("90s", "30m", "2h", "1d"). */
export function sinceToMs(arg: string, nowMs: number): number {
  const t = timeArg(arg, nowMs, "back");
  if ("error" in t) throw usageError(`--since ${JSON.stringify(arg)} ${t.error}`);
  return t.ms;
}

/** Which scheduler leads and how NATS looks, for `drover status`. */
export function controlLines(c: StatusResponse["control"]): string[] {
  if (!c) return [];
  const l = c.leadership;
  const leader = l.leader ? `${l.leader.id}${l.leader.apiUrl ? ` at ${l.leader.apiUrl}` : ""}` : "none known right now";
  const who = !l.enabled
    ? `scheduler: ${l.self} (one scheduler, no leadership)`
    : l.leading
      ? `scheduler: ${l.self} leads (lease revision ${l.leaseRevision})`
      : `scheduler: ${l.self} follows; leader: ${leader}`;
  const t = l.takingCharge;
  const taking = t
    ? [
        `  taking charge since ${new Date(t.sinceMs).toISOString()}, nothing sent yet${t.lastError ? `: attempt ${t.failedAttempts} failed: ${t.lastError}` : ""}`,
      ]
    : [];
  const n = c.nats;
  const replicas = n.leaseReplicas
    ? `; lease replicas: leader ${n.leaseReplicas.leader ?? "none"}${n.leaseReplicas.replicas.map((r) => `, ${r.name} ${r.offline ? "offline" : r.current ? "current" : "behind"}`).join("")}`
    : "";
  const conn = n.connected ? `connected to ${n.serverName ?? "?"} (${n.server ?? "?"})` : "disconnected";
  return [who, ...taking, `NATS: ${conn}, cluster ${n.cluster ?? "none (one server)"}, ${n.knownServers.length} servers known${replicas}`];
}
