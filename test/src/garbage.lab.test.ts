// Garbage over the real nats-server into a running scheduler and agents, sent the way a stolen
// credential allows: h1's own identity on h1's report, event and migration subjects, the
// scheduler's identity on h1's command subject. Truncated JSON, wrong types, payloads just under
// and just over max_payload, and 5,000 messages in a burst on each. Both apps stay up and keep
// answering, count what they dropped (the scheduler in /v1/status, the agent in its stop line),
// log it in a bounded number of lines, and the cluster is as it was: same hosts, same VMs where they
// were, no migration or power action recorded.
import { readFile, stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bus, ErrorHeader } from "@drover/bus";
import { Command, CommandReply, HistoryResponse, StatusResponse, silentLogger, subjects } from "@drover/protocol";
import { hostReport, migrateCommand, migrationProgress, migrationResult } from "@drover/protocol/testing";
import { call, http } from "./helpers/api.js";
import { hosts, vms, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

const BURST = 5000;
const MAX_PAYLOAD = 1024 * 1024; // what `drover credentials` writes into the server config (DEFAULT_MAX_PAYLOAD)
const enc = new TextEncoder();

/** Invalid on purpose, each differently: truncated JSON, wrong types, not an object, empty. */
function garbageOf(valid: object, wrong: object): Uint8Array[] {
  const text = JSON.stringify(valid);
  return [
    enc.encode(text.slice(0, Math.floor(text.length / 2))),
    enc.encode(JSON.stringify({ ...valid, ...wrong })),
    enc.encode("{"),
    enc.encode("null"),
    enc.encode("[1,2,3]"),
    new Uint8Array([0xff, 0xfe, 0x7b]),
    new Uint8Array(0),
  ];
}

/** JSON of about `bytes` bytes: the message padded with a long string. */
function padded(msg: object, bytes: number): Uint8Array {
  const head = JSON.stringify({ ...msg, pad: "" });
  return enc.encode(head.replace('"pad":""', `"pad":"${"x".repeat(bytes - head.length)}"`));
}

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function jsonLines(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, "utf8"))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

let d: DroverLab;
let asH1: Bus;
let asScheduler: Bus;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 38,
    hosts: 2,
    guests: [{ name: "vm1", host: "h1" }],
    scheduler: { policies: { balance: { mode: "off" }, consolidate: { mode: "off" } } },
  });
  await waitReady(d.api, 2, ["vm1"]);
  asH1 = await Bus.connect({ ...d.lab.busOptions("h1"), name: "stolen-h1", logger: silentLogger });
  asScheduler = await Bus.connect({ ...d.lab.busOptions("scheduler"), name: "stolen-scheduler", logger: silentLogger });
});

afterAll(async () => {
  await asH1?.close();
  await asScheduler?.close();
  await d?.stop();
});

describe("garbage over NATS into a running cluster", () => {
  it("keeps scheduler and agents up and answering, counts and logs the drops boundedly, changes nothing", async () => {
    const cluster = "lab";
    const schedulerPid = d.lab.scheduler?.pid;
    const agentPids = ["h1", "h2"].map((h) => d.lab.host(h).agent?.pid);
    expect([schedulerPid, ...agentPids].every(alive)).toBe(true);
    const snapshot = async () => ({
      hosts: (await hosts(d.api)).map((h) => [h.id, h.state, h.vmCount]),
      vms: (await vms(d.api)).map((v) => [v.name, v.host, v.state]),
    });
    const before = await snapshot();
    const statusBefore = await call(d.api, "GET", "/v1/status", StatusResponse);
    const logSize = async () => ({
      scheduler: (await stat(d.schedulerLog())).size,
      h1: (await stat(d.lab.host("h1").agent!.logFile)).size,
      h2: (await stat(d.lab.host("h2").agent!.logFile)).size,
    });
    const sizeBefore = await logSize();
    const startedMs = Date.now();

    const reportSubject = subjects.hostReport(cluster, "h1");
    const cmdSubject = subjects.hostCommand(cluster, "h1");
    const bad = {
      report: garbageOf(hostReport({ cluster, host: "h1" }), { seq: "one", vms: {} }),
      command: garbageOf(migrateCommand({ destination: { host: "h2", uri: "qemu+tcp://127.0.38.2/system" } }), { v: "1", options: 3 }),
      event: garbageOf({ v: 1, host: "h1", timeMs: Date.now(), kind: "agent-started", detail: "" }, { kind: "reboot" }),
      progress: garbageOf(migrationProgress({ source: "h1" }), { phase: 7 }),
      result: garbageOf(migrationResult({ source: "h1" }), { outcome: "maybe" }),
    };
    const sent = { report: 0, command: 0, migration: 0, event: 0 };

    // Payloads just under the server's max_payload arrive and are refused by the apps; just over, the
    // client refuses to send them (the server would close the connection).
    const under = MAX_PAYLOAD - 4096;
    asH1.nc.publish(reportSubject, padded({ ...hostReport({ cluster, host: "h1" }), seq: "one" }, under));
    asScheduler.nc.publish(cmdSubject, padded({ v: 1, kind: "power-off" }, under));
    sent.report++;
    sent.command++;
    expect(() => asH1.nc.publish(reportSubject, padded({ v: 1 }, MAX_PAYLOAD + 1))).toThrow(/payload/i);
    expect(() => asScheduler.nc.publish(cmdSubject, padded({ v: 1 }, MAX_PAYLOAD + 1))).toThrow(/payload/i);

    // The burst: 5,000 on h1's report subject, 5,000 on h1's command subject, and its other subjects.
    for (let i = 0; i < BURST; i++) {
      asH1.nc.publish(reportSubject, bad.report[i % bad.report.length]!);
      asScheduler.nc.publish(cmdSubject, bad.command[i % bad.command.length]!);
    }
    sent.report += BURST;
    sent.command += BURST;
    for (let i = 0; i < 500; i++) {
      asH1.nc.publish(subjects.hostEvent(cluster, "h1"), bad.event[i % bad.event.length]!);
      asH1.nc.publish(subjects.migrationProgress(cluster, "h1", "mig-x"), bad.progress[i % bad.progress.length]!);
      asH1.nc.publish(subjects.migrationResult(cluster, "h1", "mig-x"), bad.result[i % bad.result.length]!);
    }
    sent.event += 500;
    sent.migration += 1000;
    await asH1.flush();
    await asScheduler.flush();

    // The agent answers an invalid command with an error naming the field...
    const refused = await asScheduler.nc.request(cmdSubject, enc.encode(JSON.stringify({ ...migrateCommand(), options: 3 })), {
      timeout: 10_000,
    });
    expect(refused.headers?.get(ErrorHeader.Code)).toBe("invalid-request");
    expect(refused.headers?.get(ErrorHeader.Field)).toBe("options");
    // ...and a valid one as before (the status of a command it never saw).
    const reply = await asScheduler.request(
      cmdSubject,
      Command,
      { v: 1, id: "garbage-probe", issuedAtMs: Date.now(), kind: "status", commandId: "never-sent" },
      CommandReply,
      { timeoutMs: 10_000 },
    );
    expect([reply.host, reply.status]).toEqual(["h1", "refused"]);

    // The scheduler counted every bad report and still takes h1's real ones.
    const lastSeen = async () => (await hosts(d.api)).find((h) => h.id === "h1")?.lastSeenMs ?? 0;
    const seenBefore = await lastSeen();
    const status = await (async () => {
      for (;;) {
        const s = await call(d.api, "GET", "/v1/status", StatusResponse);
        if (s.reports.invalid - statusBefore.reports.invalid >= sent.report && (await lastSeen()) > seenBefore) return s;
        if (Date.now() - startedMs > 120_000) return s;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const schedulerCounted = status.reports.invalid - statusBefore.reports.invalid;
    expect(schedulerCounted).toBe(sent.report);
    expect(await lastSeen()).toBeGreaterThan(seenBefore);
    expect([schedulerPid, ...agentPids].every(alive)).toBe(true);

    // Unchanged: the same hosts, healthy, the same VMs where they were, nothing moved or powered.
    expect(await snapshot()).toEqual(before);
    const history = await call(d.api, "GET", `/v1/history?sinceMs=${startedMs}`, HistoryResponse);
    expect(history.entries.filter((e) => e.kind === "migration" || e.kind === "power" || e.kind === "maintenance")).toEqual([]);
    expect((await http(d.api, "GET", "/v1/migrations")).body).toEqual({ migrations: [] });

    // Bounded logs: a few lines per subject for 11,000+ bad messages.
    const sizeAfter = await logSize();
    const grown = {
      scheduler: sizeAfter.scheduler - sizeBefore.scheduler,
      h1: sizeAfter.h1 - sizeBefore.h1,
      h2: sizeAfter.h2 - sizeBefore.h2,
    };
    for (const [who, bytes] of Object.entries(grown)) expect([who, bytes < 64 * 1024]).toEqual([who, true]);
    const dropLines = (await jsonLines(d.schedulerLog())).filter((l) => String(l["msg"]).startsWith("dropped "));
    expect(dropLines.length).toBeLessThan(50);
    // Each flooded subject the scheduler listens on is named (its progress and result counts live only there).
    expect(dropLines.map((l) => l["subject"])).toEqual(
      expect.arrayContaining([
        reportSubject,
        subjects.migrationProgress(cluster, "h1", "mig-x"),
        subjects.migrationResult(cluster, "h1", "mig-x"),
      ]),
    );

    // The agent's own count, written when it stops: h1 refused every command. (Peers subscribe to h1's
    // reports only on demand, for a preflight: none did, so the report garbage reached the scheduler alone.)
    await d.lab.host("h1").stopAgent();
    const stopLine = (await jsonLines(d.lab.host("h1").agent!.logFile)).findLast((l) => l["msg"] === "agent stopping");
    const agentBus = (stopLine?.["bus"] ?? {}) as { invalid?: number; invalidBySubject?: Record<string, number> };
    // +1: the probe with `options: 3` above.
    expect(agentBus.invalidBySubject?.[cmdSubject]).toBe(sent.command + 1);
    const agentDropLines = (await jsonLines(d.lab.host("h1").agent!.logFile)).filter((l) => String(l["msg"]).startsWith("dropped "));
    expect(agentDropLines.length).toBeGreaterThan(0);
    expect(agentDropLines.length).toBeLessThan(50);

    process.stdout.write(
      `garbage lab: sent reports ${sent.report}, commands ${sent.command + 1}, events ${sent.event}, progress+result ${sent.migration}; ` +
        `counted by scheduler ${schedulerCounted} (reports), agent h1 ${agentBus.invalid} (all subjects); ` +
        `drop lines: scheduler ${dropLines.length}, agent h1 ${agentDropLines.length}; log growth bytes ${JSON.stringify(grown)}\n`,
    );
  });
});
