// `drover lab up | down | status | restart`: a local lab cluster (packages/lab) with one drover-agent per
// host and a scheduler, configured by lab-setup.ts.
import { resolve } from "node:path";
import type { Command } from "commander";
import {
  killPart,
  LAB_PARTS,
  labDir,
  labDown,
  labStatus,
  labUp,
  MAX_NATS_NODES,
  refuseIfLabRuns,
  restartPart,
  type LabPart,
  type LabStatus,
} from "@drover/lab";
import { ReportingStates, type ApiHost } from "@drover/protocol";
import { ApiClient } from "../api-client.js";
import { ExitCode, CliError, usageError } from "../errors.js";
import { printJson, table } from "../format.js";
import { writeLabCluster } from "../lab-setup.js";
import { waitHosts } from "../ops.js";

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw usageError(`--${name} must be an integer ${min}..${max}, not ${JSON.stringify(v)}`);
  return n;
}

/**
 * What the scheduler's store (which outlives the lab) kept from an earlier run of this lab: its
 * hosts out of service, and hosts this run does not have.
 */
function earlierRunNotes(seen: readonly ApiHost[], names: readonly string[]): string[] {
  const kept = "as an earlier run of this lab left it (the scheduler's store keeps it)";
  return seen.flatMap((h) =>
    !names.includes(h.id)
      ? [`${h.id} is known ${kept} but is not a host of this lab: drover host forget ${h.id} removes it`]
      : h.state !== "healthy"
        ? [`${h.id} is in ${h.state}, ${kept}: drover undrain ${h.id} returns it to service`]
        : [],
  );
}

/** A lab process as the status tables show it. */
const proc = (p: { running: boolean; pid: number | null }): string => (p.running ? `pid ${p.pid}` : "down");

export function printLabStatus(s: LabStatus): void {
  const w = (l: string): void => void process.stdout.write(`${l}\n`);
  if (s.status === "absent") return w(`no lab in ${s.stateDir} (start one: drover lab up)`);
  w(`lab in ${s.stateDir}: ${s.status}${s.running ? "" : " (nothing runs)"}, cluster ${s.cluster ?? "-"}, net 127.0.${s.net ?? "?"}.x`);
  if (s.natsNodes.length === 1 && s.nats) w(`NATS ${s.nats.url}: ${proc(s.nats)}`);
  if (s.natsNodes.length > 1)
    w(
      table(
        ["nats", "url", "process", "JetStream leader", "routes"],
        s.natsNodes.map((n) => [
          n.name,
          n.url,
          proc(n),
          n.health ? (n.health.metaLeader ?? "none") : "-",
          n.health ? n.health.routes : "-",
        ]),
      ),
    );
  if (s.schedulers.length === 1 && s.scheduler) w(`scheduler: ${proc(s.scheduler)} (log ${s.scheduler.logFile})`);
  if (s.schedulers.length > 1) {
    w(
      table(
        ["scheduler", "id", "process", "role", "log"],
        s.schedulers.map((x) => [x.index, x.id, proc(x), x.leading ? "leader" : x.running ? "follower" : "-", x.logFile]),
      ),
    );
    w(`leader lease: ${s.leader ? `${s.leader.id}${s.leader.apiUrl ? ` at ${s.leader.apiUrl}` : ""}` : "held by none"}`);
  }
  w(
    table(
      ["host", "address", "power", "libvirtd", "agent", "guests"],
      s.hosts.map((h) => [h.name, h.address, h.power, proc(h.libvirtd), h.agent ? proc(h.agent) : "-", h.guests.join(" ") || "-"]),
    ),
  );
  if (s.guests.length)
    w(
      table(
        ["guest", "host", "ticks"],
        s.guests.map((g) => [g.name, g.host ?? "(not running)", g.ticks]),
      ),
    );
}

export function registerLabCommands(program: Command): void {
  const lab = program.command("lab").description("a local lab cluster: NATS, libvirtd hosts, tiny guests, agents, scheduler");
  const dirOpt = "--state-dir <dir>";
  const dirHelp = "lab state dir (default $DROVER_LAB_DIR or /var/lib/drover-lab)";

  lab
    .command("up")
    .description("start a lab and print where its API is")
    .option("--hosts <n>", "hosts h1..hN (1..16)", "3")
    .option("--guests <n>", "guests vm1..vmM, round-robin over the hosts (0..32)", "4")
    .option("--net <octet>", "third octet of the lab addresses 127.0.<net>.x (1..253)", "1")
    .option("--memory <mib>", "MiB per guest (96..128; smaller guests do not boot the lab kernel)", "96")
    .option("--api-port <port>", "scheduler HTTP port (default 7069 + net; scheduler k of several 1000 above per k)")
    .option("--nats-nodes <n>", `nats-servers: 1, or a cluster of up to ${MAX_NATS_NODES} (JetStream replicated)`, "1")
    .option("--schedulers <n>", "schedulers contending for the leader lease (1..5; more than one needs --nats-nodes 3)", "1")
    .option("--no-agents", "start no drover-agent")
    .option("--no-scheduler", "start no scheduler")
    .option(dirOpt, dirHelp)
    .option("--json", "print the lab status as JSON")
    .action(
      async (o: {
        hosts: string;
        guests: string;
        net: string;
        memory: string;
        apiPort?: string;
        natsNodes: string;
        schedulers: string;
        agents: boolean;
        scheduler: boolean;
        stateDir?: string;
        json?: boolean;
      }) => {
        const hosts = int("hosts", o.hosts, 1, 16);
        const guests = int("guests", o.guests, 0, 32);
        const net = int("net", o.net, 1, 253);
        const memoryMiB = int("memory", o.memory, 96, 128);
        const natsNodes = int("nats-nodes", o.natsNodes, 1, MAX_NATS_NODES);
        const schedulers = int("schedulers", o.schedulers, 1, 5);
        if (schedulers > 1 && natsNodes < 3)
          throw usageError(`--schedulers ${schedulers} needs --nats-nodes 3: the leader lease lives in replicated JetStream`);
        const stateDir = o.stateDir ?? labDir();
        // Before the configs and token are written: a running lab's must stay as they are.
        await refuseIfLabRuns(resolve(stateDir));
        const cluster = await writeLabCluster({
          hosts,
          net,
          stateDir,
          natsNodes,
          schedulers,
          ...(o.apiPort ? { apiPort: int("api-port", o.apiPort, 1, 65535) } : {}),
        });
        process.stderr.write(
          `starting a lab of ${hosts} host(s) and ${guests} guest(s) in ${cluster.stateDir} (the first start downloads the guest kernel)...\n`,
        );
        const status = await labUp({
          hosts,
          guests,
          net,
          natsNodes,
          schedulers,
          stateDir: cluster.stateDir,
          guest: { memoryMiB },
          ...(o.agents ? { agent: cluster.agent } : {}),
          ...(o.scheduler ? { scheduler: cluster.scheduler } : {}),
        });
        let notes: string[] = [];
        if (o.scheduler) {
          const api = new ApiClient(cluster.apiUrl, { token: cluster.apiToken });
          const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
          try {
            // Heard, not healthy: the scheduler's store outlives the lab, so a host left in
            // maintenance by an earlier run comes back in maintenance.
            const seen = await waitHosts(
              api,
              "the scheduler to answer and every agent to report",
              (hs) => !o.agents || names.every((n) => hs.some((h) => h.id === n && ReportingStates.has(h.state))),
              { timeoutMs: 90_000, pollMs: 1000 },
            );
            if (o.agents) notes = earlierRunNotes(seen, names);
          } catch (e) {
            const detail = e instanceof Error ? e.message : String(e);
            throw new CliError(
              `the lab runs, but ${detail}; see ${cluster.stateDir}/scheduler.log and hosts/*/agent.log (stop it with drover lab down)`,
              "lab-not-ready",
            );
          }
        }
        for (const n of notes) process.stderr.write(`${n}\n`);
        if (o.json)
          return printJson({
            ...status,
            api: o.scheduler ? cluster.apiUrl : null,
            apis: o.scheduler ? cluster.apis.map((a) => a.url) : [],
          });
        printLabStatus(status);
        if (o.scheduler)
          process.stdout.write(
            `\nThe scheduler's API is at ${cluster.apiUrl} (drover commands find it through ${cluster.stateDir}/drover-api.json; or set DROVER_API=${cluster.apiUrl}).\nTry: drover hosts; drover plan balance; drover drain h1 --wait\n`,
          );
        if (o.scheduler && schedulers > 1)
          process.stdout.write(
            `Schedulers 2..${schedulers}: ${cluster.apis
              .slice(1)
              .map((a) => a.url)
              .join(", ")}, with the same token; drover-api.json lists them all, so drover reads from the first that ` +
              "answers and sends a change to the leader (a follower refuses one, naming the leader).\n",
          );
      },
    );

  lab
    .command("down")
    .description("stop the lab: every process it started, by pid")
    .option(dirOpt, dirHelp)
    .action(async (o: { stateDir?: string }) => {
      const s = await labDown(o.stateDir ?? labDir());
      if (s.running)
        throw new CliError(`the lab in ${s.stateDir} still runs processes after teardown; see drover lab status`, "lab-still-running");
      process.stdout.write(s.status === "absent" ? `no lab in ${s.stateDir}\n` : `lab in ${s.stateDir} stopped\n`);
    });

  for (const [verb, what, act] of [
    ["restart", "stop one part of the lab by pid and start it again", restartPart],
    ["kill", "SIGKILL one part of the lab, as a crash (it stays down until restarted; a libvirtd is restarted by the lab)", killPart],
  ] as const) {
    lab
      .command(verb)
      .description(`${what}: ${LAB_PARTS.join(" | ")} (agent and libvirtd take a host; scheduler and nats a number when there are several)`)
      .argument("<part>", LAB_PARTS.join("|"))
      .argument("[which]", "the host of an agent or libvirtd (e.g. h1), or the number of a scheduler or NATS node (e.g. 2)")
      .option(dirOpt, dirHelp)
      .action(async (part: string, which: string | undefined, o: { stateDir?: string }) => {
        if (!(LAB_PARTS as readonly string[]).includes(part))
          throw usageError(`part must be one of ${LAB_PARTS.join(", ")}, not ${JSON.stringify(part)}`);
        const perHost = part === "agent" || part === "libvirtd";
        if (perHost && !which) throw usageError(`drover lab ${verb} ${part} needs a host, e.g. drover lab ${verb} ${part} h1`);
        if (!perHost && which !== undefined && !/^\d+$/.test(which))
          throw usageError(`drover lab ${verb} ${part} takes a number (1..N) or nothing, not ${JSON.stringify(which)}`);
        const stateDir = o.stateDir ?? labDir();
        await act(stateDir, part as LabPart, which);
        printLabStatus(await labStatus(stateDir));
      });
  }

  lab
    .command("status")
    .description("the lab's processes and guests (tick counters show guests running)")
    .option(dirOpt, dirHelp)
    .option("--json", "print packages/lab's LabStatus")
    .action(async (o: { stateDir?: string; json?: boolean }) => {
      const s = await labStatus(o.stateDir ?? labDir());
      if (o.json) return printJson(s);
      printLabStatus(s);
      if (s.status === "absent") process.exitCode = ExitCode.Failed;
    });
}
