import { readFile, readdir, stat, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { subjects } from "@drover/protocol";
import { InvalidOptionsError, authorizationConfig, permissionsFor, writeCredentials } from "../src/index.js";

describe("permissions", () => {
  it("a host publishes only its own report, event and migrations' progress and results, and hears only its own commands, peers' reports and its own inbox", () => {
    expect(permissionsFor("c", { kind: "host", host: "h1" })).toEqual({
      publish: [
        subjects.hostReport("c", "h1"),
        subjects.hostEvent("c", "h1"),
        subjects.migrationProgress("c", "h1", "*"),
        subjects.migrationResult("c", "h1", "*"),
      ],
      subscribe: [subjects.hostCommand("c", "h1"), subjects.allHostReports("c"), `${subjects.hostInbox("c", "h1")}.>`],
      allowResponses: true,
    });
  });

  it("only the scheduler may publish commands (and hold its cluster's leader lease, move journal and results consumer); tools publish nothing", () => {
    expect(permissionsFor("c", { kind: "scheduler" }).publish).toEqual([
      subjects.hostCommand("c", "*"),
      "$JS.API.INFO",
      "$JS.API.STREAM.*.KV_drover-leader",
      "$JS.API.DIRECT.GET.KV_drover-leader.>",
      "$KV.drover-leader.c",
      "$JS.API.STREAM.*.KV_drover-journal",
      "$JS.API.DIRECT.GET.KV_drover-journal.>",
      "$JS.API.CONSUMER.*.KV_drover-journal",
      "$JS.API.CONSUMER.*.KV_drover-journal.>",
      "$KV.drover-journal.c.>",
      "$JS.API.STREAM.*.drover-results-c",
      "$JS.API.CONSUMER.*.drover-results-c",
      "$JS.API.CONSUMER.*.drover-results-c.>",
      "$JS.API.CONSUMER.DURABLE.CREATE.drover-results-c.>",
      "$JS.API.CONSUMER.MSG.NEXT.drover-results-c.>",
      "$JS.ACK.drover-results-c.>",
    ]);
    const conf = authorizationConfig("c", [{ identity: { kind: "tools" }, nkey: `U${"A".repeat(55)}` }]);
    expect(conf).toContain('publish: { deny: [">"] }');
    expect(() => authorizationConfig("c", [{ identity: { kind: "tools" }, nkey: "SUAAA" }])).toThrow(/not a user public nkey/);
  });
});

describe("writeCredentials", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-creds-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes 0600 seeds, keeps existing keys when a host is added, removes a revoked host", async () => {
    const first = await writeCredentials({ dir, cluster: "c", hosts: ["h1"] });
    expect(first.identities.map((i) => i.name)).toEqual(["host-h1", "scheduler"]);
    for (const f of await readdir(dir)) expect((await stat(join(dir, f))).mode & 0o777, f).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const seed = await readFile(first.identities[0]!.seedFile, "utf8");
    expect(seed).toMatch(/^SU[A-Z2-7]+\n$/);
    // The result names files and public keys only.
    expect(JSON.stringify(first)).not.toContain(seed.trim());

    const second = await writeCredentials({ dir, cluster: "c", hosts: ["h2"], tools: true });
    expect(second.added).toEqual(["host-h2", "tools"]);
    expect(second.identities.find((i) => i.name === "host-h1")?.publicKey).toBe(first.identities[0]!.publicKey);
    const auth = await readFile(second.authorizationFile, "utf8");
    for (const i of second.identities) expect(auth).toContain(i.publicKey);

    const third = await writeCredentials({ dir, cluster: "c", revoke: ["h1"] });
    expect(third.identities.map((i) => i.name)).toEqual(["host-h2", "scheduler", "tools"]);
    expect(await readFile(third.authorizationFile, "utf8")).not.toContain(first.identities[0]!.publicKey);
  });

  it("refuses bad input, naming it, before writing anything", async () => {
    await expect(writeCredentials({ dir, cluster: "c", hosts: ["bad host"] })).rejects.toThrow(/hosts: "bad host" is not a host id/);
    await expect(writeCredentials({ dir, cluster: "c", revoke: ["h9"] })).rejects.toThrow(/revoke: no user for host\(s\) h9/);
    expect(await readdir(dir)).toEqual([]);
    await writeCredentials({ dir, cluster: "c" });
    const err = await writeCredentials({ dir, cluster: "other" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect((err as Error).message).toMatch(/cluster c, not other/);
  });
});
