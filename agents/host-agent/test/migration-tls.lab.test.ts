import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bus } from "@drover/bus";
import { Lab, readTicks, startGuest, type LabHost } from "@drover/lab";
import {
  Command,
  CommandReply,
  HostReport,
  MIGRATION_TLS_FILES,
  MigrationResult,
  silentLogger,
  subjects,
  type CommandInput,
} from "@drover/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentFromConfig, Collector, ticksAbove, writeAgentConfig } from "./helpers.js";

// Lab net 23: 127.0.23.x. h2 starts without migration certificates; the lab's agents migrate over TLS.
const NET = 23;
const CLUSTER = "lab";
const VIR_MIGRATE_TLS = 1 << 16;

describe("migration over TLS on a real lab (2 libvirtd hosts, h2 without certificates at first)", () => {
  let dir: string;
  let lab: Lab;
  let bus: Bus;
  let reports: Collector<HostReport>;
  let results: Collector<MigrationResult>;
  let h1: LabHost;
  let h2: LabHost;

  const send = (cmd: Record<string, unknown>): Promise<CommandReply> =>
    bus.request(
      subjects.hostCommand(CLUSTER, "h1"),
      Command,
      { v: 1, issuedAtMs: Date.now(), issuedBy: "test", ...cmd } as CommandInput,
      CommandReply,
      { timeoutMs: 30_000 },
    );
  const preflight = (id: string) => send({ id, kind: "preflight", vm: "g", destination: { host: "h2", uri: h2.uri } });
  const migrate = async (id: string): Promise<MigrationResult> => {
    const reply = await send({
      id,
      kind: "migrate",
      migrationId: `m-${id}`,
      vm: "g",
      destination: { host: "h2", uri: h2.uri },
      options: { allowUnsafe: true },
    });
    expect(reply.status).toBe("accepted");
    return results.next(`result of m-${id}`, (r) => r.migrationId === `m-${id}`, 180_000);
  };

  /** The flags h1's agent passed to virDomainMigrateToURI3 for a migration (its "migration starting" log line). */
  const flagsOf = async (migrationId: string): Promise<number> => {
    const lines = (await readFile(join(h1.dir, "agent.log"), "utf8")).split("\n").filter((l) => l.startsWith("{"));
    const start = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e["msg"] === "migration starting" && e["migrationId"] === migrationId);
    expect(start, `h1's agent.log has no "migration starting" for ${migrationId}`).toBeDefined();
    return start?.["flags"] as number;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-agent-tls-"));
    const config = await writeAgentConfig(dir);
    lab = await Lab.start({
      hosts: 2,
      guests: 0,
      net: NET,
      stateDir: join(dir, "lab"),
      withoutMigrationCerts: ["h2"],
      agentCommand: agentFromConfig(config),
    });
    h1 = lab.host("h1");
    h2 = lab.host("h2");
    bus = await Bus.connect({ ...lab.busOptions("scheduler"), name: "agent-tls-lab-test", logger: silentLogger });
    reports = new Collector(bus, subjects.allHostReports(CLUSTER), HostReport);
    results = new Collector(bus, subjects.allMigrationResults(CLUSTER), MigrationResult);
    await startGuest(h1, { name: "g", workload: { dirtyMb: 4, dirtyRate: 1 } });
  });

  afterAll(async () => {
    await bus?.drain().catch(() => undefined);
    await lab?.stop();
    if (dir && !process.env["DROVER_KEEP_LAB"]) await rm(dir, { recursive: true, force: true });
  });

  it("h2 reports TLS on and what its cert dir lacks; preflight to h2 fails naming h2 and the files", async () => {
    const missing = `no ${MIGRATION_TLS_FILES.join(", ")} in ${h2.migrationTlsDir}`;
    const r2 = await reports.next("an h2 report", (m) => m.host === "h2", 60_000);
    expect(r2.migrationTls).toEqual({ enabled: true, problem: missing });
    const r1 = await reports.next("an h1 report", (m) => m.host === "h1", 60_000);
    expect(r1.migrationTls).toEqual({ enabled: true, problem: null });

    const pf = await preflight("pf-no-certs");
    expect(pf.status).toBe("failed");
    expect(pf.checks?.filter((c) => !c.ok)).toEqual([{ check: "migration-tls", ok: false, reason: `h2: ${missing}` }]);
    expect(pf.error?.message).toContain(`migration-tls: h2: ${missing}`);
  });

  it("a migrate that skips preflight fails where QEMU sets up TLS on h2, and the guest stays on h1", async () => {
    const r = await migrate("no-certs");
    expect(r).toMatchObject({ outcome: "failed", vmRunningOn: "h1" });
    // QEMU on h2 cannot load the TLS credentials it was asked for: the flag reached libvirt and QEMU.
    expect(r.error?.message).toContain(`${h2.migrationTlsDir}/ca-cert.pem`);
    expect((await flagsOf("m-no-certs")) & VIR_MIGRATE_TLS).toBe(VIR_MIGRATE_TLS);
    await ticksAbove("g still ticking on h1", h1.serialFile("g"), await readTicks(h1.serialFile("g")));
  });

  it("with certificates installed on h2, preflight passes and the guest moves over TLS", async () => {
    await h2.installMigrationCerts();
    // The agent stats its cert dir at every report and re-verifies what changed: no restart.
    await reports.next("h2 reporting its cert dir in order", (m) => m.host === "h2" && m.migrationTls?.problem === null, 60_000);

    const pf = await preflight("pf-certs");
    expect(pf.checks?.find((c) => c.check === "migration-tls")).toEqual({
      check: "migration-tls",
      ok: true,
      reason: "TLS on both ends: h1 and h2 have their CA, server and client certificates in order",
    });
    expect(pf.status).toBe("succeeded");

    const ticks = await readTicks(h1.serialFile("g"));
    const r = await migrate("certs");
    expect(r).toMatchObject({ outcome: "succeeded", vmRunningOn: "h2", error: null });
    expect((await flagsOf("m-certs")) & VIR_MIGRATE_TLS).toBe(VIR_MIGRATE_TLS);
    await ticksAbove("g ticking on h2", h2.serialFile("g"), ticks);
  });
});
