import { describe, expect, it } from "vitest";
import {
  ApiMigrationEnded,
  ApiMigrationStates,
  Command,
  CommandReply,
  HostReport,
  MigrationProgress,
  MigrationResult,
  ValidationError,
  decodeMessage,
  parseMessage,
  subjects,
  hostOfSubject,
} from "../src/index.js";
import { hostReport, migrateCommand as migrate, migrationProgress, migrationResult, T0, testUuid, vmReport } from "../src/testing/index.js";

const reportWith = (vms: number) => hostReport({ vms: Array.from({ length: vms }, (_, i) => vmReport(i)) });
const migrateCommand = migrate();

/** Deep copy with one change applied, so each bad case differs from a valid message in one place. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test drafts are edited freely
function mutate<T>(value: T, change: (draft: any) => void): unknown {
  const copy = structuredClone(value);
  change(copy);
  return copy;
}

const now = T0;
const validCommands = [
  migrateCommand,
  { v: 1, id: "p1", issuedAtMs: now, kind: "preflight", vm: "vm1", destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" } },
  { v: 1, id: "a1", issuedAtMs: now, kind: "abort", migrationId: "mig-1" },
  { v: 1, id: "o1", issuedAtMs: now, kind: "power-off" },
  { v: 1, id: "w1", issuedAtMs: now, kind: "wake-peer", target: "h3", mac: "02:00:00:00:01:03", address: "127.0.1.3" },
  { v: 1, id: "s1", issuedAtMs: now, kind: "status", commandId: "cmd-1" },
];

const progress = migrationProgress();
const result = migrationResult();
const reply = { v: 1, id: "cmd-1", host: "h1", kind: "migrate", status: "accepted", timeMs: now };

describe("valid messages of every kind", () => {
  it("accepts a host report and applies defaults", () => {
    const r = parseMessage(HostReport, reportWith(50));
    expect(r.vms).toHaveLength(50);
    expect(r.vms[0]!.migrating).toBe(false);
    expect(r.power.wake[0]).toMatchObject({ method: "wol", port: 9 });
  });
  it.each(validCommands.map((c) => [c.kind, c]))("accepts a %s command", (_kind, c) => {
    expect(parseMessage(Command, c).kind).toBe(c.kind);
  });
  it("fills migrate defaults", () => {
    const c = parseMessage(Command, migrateCommand);
    expect(c.kind === "migrate" && c.options.timeoutMs).toBe(600_000);
  });
  it("accepts progress, result and reply", () => {
    expect(parseMessage(MigrationProgress, progress).iteration).toBe(2);
    expect(parseMessage(MigrationResult, result).downtimeMs).toBe(250);
    expect(parseMessage(CommandReply, reply).duplicate).toBe(false);
  });
  it("lower-cases VM UUIDs", () => {
    const r = parseMessage(
      HostReport,
      mutate(hostReport({ vms: [vmReport(0xabc)] }), (d) => (d.vms[0].uuid = d.vms[0].uuid.toUpperCase())),
    );
    expect(r.vms[0]!.uuid).toBe(testUuid(0xabc));
  });
});

type BadCase = [
  name: string,
  schema: typeof HostReport | typeof Command | typeof MigrationProgress | typeof MigrationResult | typeof CommandReply,
  input: unknown,
  field: string,
];
const hr = reportWith(2);
const bad: BadCase[] = [
  ["wrong version", HostReport, mutate(hr, (d) => (d.v = 2)), "v"],
  ["cluster with a dot", HostReport, mutate(hr, (d) => (d.cluster = "a.b")), "cluster"],
  ["host with a wildcard", HostReport, mutate(hr, (d) => (d.host = "h*")), "host"],
  ["empty host", HostReport, mutate(hr, (d) => (d.host = "")), "host"],
  ["negative seq", HostReport, mutate(hr, (d) => (d.seq = -1)), "seq"],
  ["time as a string", HostReport, mutate(hr, (d) => (d.timeMs = "now")), "timeMs"],
  ["zero interval", HostReport, mutate(hr, (d) => (d.intervalMs = 0)), "intervalMs"],
  ["fractional cpus", HostReport, mutate(hr, (d) => (d.capacity.cpus = 1.5)), "capacity.cpus"],
  ["missing memory capacity", HostReport, mutate(hr, (d) => delete d.capacity.memoryMiB), "capacity.memoryMiB"],
  ["cpu over 100%", HostReport, mutate(hr, (d) => (d.usage.cpuFraction = 1.2)), "usage.cpuFraction"],
  ["NaN load", HostReport, mutate(hr, (d) => (d.usage.load1 = Number.NaN)), "usage.load1"],
  ["negative pressure", HostReport, mutate(hr, (d) => (d.usage.pressure.cpuSome10 = -1)), "usage.pressure.cpuSome10"],
  ["reachable not boolean", HostReport, mutate(hr, (d) => (d.libvirt.reachable = "yes")), "libvirt.reachable"],
  ["lastError without code", HostReport, mutate(hr, (d) => (d.libvirt.lastError = { message: "x", atMs: 1 })), "libvirt.lastError.code"],
  ["empty migration URI", HostReport, mutate(hr, (d) => (d.migrationUri = "")), "migrationUri"],
  ["bridges not array", HostReport, mutate(hr, (d) => (d.bridges = "br0")), "bridges"],
  ["bad MAC", HostReport, mutate(hr, (d) => (d.power.wake[0].mac = "zz:00")), "power.wake.0.mac"],
  ["unknown wake method", HostReport, mutate(hr, (d) => (d.power.wake[0].method = "smoke-signal")), "power.wake.0.method"],
  ["VM uuid not a uuid", HostReport, mutate(hr, (d) => (d.vms[1].uuid = "abc")), "vms.1.uuid"],
  ["VM unknown state", HostReport, mutate(hr, (d) => (d.vms[0].state = "dancing")), "vms.0.state"],
  ["VM zero vcpus", HostReport, mutate(hr, (d) => (d.vms[0].vcpus = 0)), "vms.0.vcpus"],
  ["VM negative memory", HostReport, mutate(hr, (d) => (d.vms[0].memoryMiB = -5)), "vms.0.memoryMiB"],
  ["VM cpu as string", HostReport, mutate(hr, (d) => (d.vms[1].cpuUsedVcpus = "0.5")), "vms.1.cpuUsedVcpus"],
  ["VM disk unknown cache", HostReport, mutate(hr, (d) => (d.vms[0].disks[0].cacheMode = "fast")), "vms.0.disks.0.cacheMode"],
  ["VM disk shared missing", HostReport, mutate(hr, (d) => delete d.vms[0].disks[0].shared), "vms.0.disks.0.shared"],
  ["VM tags not strings", HostReport, mutate(hr, (d) => (d.vms[0].tags = [1])), "vms.0.tags.0"],
  ["unknown command kind", Command, mutate(migrateCommand, (d) => (d.kind = "reboot")), "kind"],
  ["command id with a dot", Command, mutate(migrateCommand, (d) => (d.id = "a.b")), "id"],
  ["migrate without vm", Command, mutate(migrateCommand, (d) => delete d.vm), "vm"],
  ["migrate destination without uri", Command, mutate(migrateCommand, (d) => delete d.destination.uri), "destination.uri"],
  ["negative downtime", Command, mutate(migrateCommand, (d) => (d.options.maxDowntimeMs = -1)), "options.maxDowntimeMs"],
  [
    "unknown escalation",
    Command,
    mutate(migrateCommand, (d) => (d.options.escalation = [{ action: "pray" }])),
    "options.escalation.0.action",
  ],
  [
    "raise-downtime without target",
    Command,
    mutate(migrateCommand, (d) => (d.options.escalation = [{ action: "raise-downtime" }])),
    "options.escalation.0.toMs",
  ],
  [
    "progress interval over 1 s",
    Command,
    mutate(migrateCommand, (d) => (d.options.progressIntervalMs = 5000)),
    "options.progressIntervalMs",
  ],
  ["wake-peer port out of range", Command, { ...validCommands[4], port: 70000 }, "port"],
  ["status without commandId", Command, mutate(validCommands[5], (d) => delete d.commandId), "commandId"],
  ["progress phase unknown", MigrationProgress, { ...progress, phase: "teleporting" }, "phase"],
  ["progress negative bytes", MigrationProgress, { ...progress, dataRemainingBytes: -1 }, "dataRemainingBytes"],
  ["result unknown outcome", MigrationResult, { ...result, outcome: "maybe" }, "outcome"],
  ["result completedBy unknown", MigrationResult, { ...result, completedBy: "magic" }, "completedBy"],
  ["reply unknown status", CommandReply, { ...reply, status: "done" }, "status"],
  ["reply without host", CommandReply, { ...reply, host: undefined }, "host"],
];

describe("invalid messages are rejected with the field named", () => {
  it("has at least 30 cases", () => expect(bad.length).toBeGreaterThanOrEqual(30));
  it.each(bad)("%s", (_name, schema, input, field) => {
    let err: unknown;
    try {
      parseMessage(schema as typeof HostReport, input, "test message");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.issues.map((i) => i.field)).toContain(field);
    expect(v.message).toContain(field);
  });
  it("names the root for bad JSON", () => {
    expect(() => decodeMessage(HostReport, "{nope", "host report")).toThrow(/invalid host report: \(root\): not JSON/);
  });
});

describe("the API's migration states", () => {
  it("ended are every state but the three under way, and all are API states", () => {
    const underWay = ApiMigrationStates.filter((st) => !ApiMigrationEnded.has(st));
    expect(underWay).toEqual(["queued", "preflight", "running"]);
    expect([...ApiMigrationEnded].every((st) => (ApiMigrationStates as readonly string[]).includes(st))).toBe(true);
  });
});

describe("subjects", () => {
  it("carry version and cluster", () => {
    expect(subjects.hostReport("lab", "h1")).toBe("drover.v1.lab.host.h1.report");
    expect(subjects.hostCommand("lab", "h2")).toBe("drover.v1.lab.host.h2.cmd");
    expect(subjects.migrationProgress("lab", "h1", "m1")).toBe("drover.v1.lab.host.h1.migration.m1.progress");
    expect(hostOfSubject("drover.v1.lab.host.h7.report")).toBe("h7");
  });
});
