import { readFile, readdir, stat, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { subjects } from "@drover/protocol";
import {
  InvalidOptionsError,
  authorizationConfig,
  identityName,
  parseIdentityName,
  permissionsFor,
  writeCredentials,
} from "../src/index.js";

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
      "$JS.API.STREAM.*.KV_drover-leader-c",
      "$JS.API.DIRECT.GET.KV_drover-leader-c.>",
      "$KV.drover-leader-c.c",
      "$JS.API.STREAM.*.KV_drover-journal-c",
      "$JS.API.DIRECT.GET.KV_drover-journal-c.>",
      "$JS.API.STREAM.MSG.GET.KV_drover-journal-c",
      "$KV.drover-journal-c.c.>",
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

  it("with peer clusters, hosts and schedulers also read the peers' host reports and nothing else of them; tools stay home", () => {
    const alone = { host: permissionsFor("a", { kind: "host", host: "h1" }), scheduler: permissionsFor("a", { kind: "scheduler" }) };
    const host = permissionsFor("a", { kind: "host", host: "h1" }, ["a", "b"]);
    expect(host.publish).toEqual(alone.host.publish);
    expect(host.subscribe).toEqual([
      subjects.hostCommand("a", "h1"),
      subjects.allHostReports("a"),
      subjects.allHostReports("b"),
      `${subjects.hostInbox("a", "h1")}.>`,
    ]);
    const scheduler = permissionsFor("a", { kind: "scheduler" }, ["b"]);
    expect(scheduler.publish).toEqual(alone.scheduler.publish);
    expect(scheduler.subscribe.filter((s) => !alone.scheduler.subscribe.includes(s))).toEqual([subjects.allHostReports("b")]);
    // Replies only under its own cluster's scheduler prefix, never the whole _INBOX.
    expect(scheduler.subscribe.filter((s) => s.startsWith("_INBOX"))).toEqual([`${subjects.schedulerInbox("a")}.>`]);
    expect(permissionsFor("a", { kind: "scheduler", cluster: "b" }, ["a"]).subscribe).toContain(`${subjects.schedulerInbox("b")}.>`);
    expect(permissionsFor("a", { kind: "tools" }, ["b"])).toEqual(permissionsFor("a", { kind: "tools" }));
    // An identity of another cluster gets that cluster's job, and the first cluster as its peer.
    expect(permissionsFor("a", { kind: "host", host: "h3", cluster: "b" }, ["a", "b"]).subscribe).toEqual([
      subjects.hostCommand("b", "h3"),
      subjects.allHostReports("b"),
      subjects.allHostReports("a"),
      `${subjects.hostInbox("b", "h3")}.>`,
    ]);
  });
});

describe("identity names", () => {
  it("the first cluster's scheduler and tools keep their plain names; another cluster's carry it; hosts never do", () => {
    expect(identityName({ kind: "scheduler" })).toBe("scheduler");
    expect(identityName({ kind: "scheduler", cluster: "a" }, "a")).toBe("scheduler");
    expect(identityName({ kind: "tools", cluster: "b" }, "a")).toBe("tools-b");
    expect(identityName({ kind: "host", host: "h3", cluster: "b" }, "a")).toBe("host-h3");
    expect(parseIdentityName("scheduler-b")).toEqual({ kind: "scheduler", cluster: "b" });
    expect(parseIdentityName("tools-b-2")).toEqual({ kind: "tools", cluster: "b-2" });
    expect(parseIdentityName("tools")).toEqual({ kind: "tools" });
    expect(parseIdentityName("host-scheduler-x")).toEqual({ kind: "host", host: "scheduler-x" });
    for (const bad of ["scheduler-", "tools-b.c", "host-", "root"]) expect(parseIdentityName(bad), bad).toBeUndefined();
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
  });

  it("adds another cluster to a directory: its own scheduler, tools and hosts beside the first cluster's, one CA", async () => {
    const a = await writeCredentials({ dir, cluster: "a", hosts: ["h1"], tools: true });
    const caBefore = await readFile(a.tls!.caFile, "utf8");
    const b = await writeCredentials({ dir, cluster: "b", hosts: ["h3"], tools: true });
    expect(b.added).toEqual(["scheduler-b", "host-h3", "tools-b"]);
    expect(b.cluster).toBe("b");
    expect(b.clusters).toEqual(["a", "b"]);
    expect(b.identities.map((i) => [i.name, i.identity])).toEqual([
      ["host-h1", { kind: "host", host: "h1", cluster: "a" }],
      ["host-h3", { kind: "host", host: "h3", cluster: "b" }],
      ["scheduler", { kind: "scheduler", cluster: "a" }],
      ["scheduler-b", { kind: "scheduler", cluster: "b" }],
      ["tools", { kind: "tools", cluster: "a" }],
      ["tools-b", { kind: "tools", cluster: "b" }],
    ]);
    for (const n of ["host-h1", "scheduler", "tools"]) {
      expect(b.identities.find((i) => i.name === n)?.publicKey, n).toBe(a.identities.find((i) => i.name === n)?.publicKey);
    }
    expect(await readFile(b.tls!.caFile, "utf8")).toBe(caBefore);
    for (const f of await readdir(dir)) expect((await stat(join(dir, f))).mode & 0o777, f).toBe(0o600);
    const auth = await readFile(b.authorizationFile, "utf8");
    for (const i of b.identities) expect(auth).toContain(i.publicKey);
    expect(auth).toContain("# scheduler-b (cluster b)");
    const manifest = JSON.parse(await readFile(join(dir, "identities.json"), "utf8")) as { cluster: string; clusters: string[] };
    expect([manifest.cluster, manifest.clusters]).toEqual(["a", ["a", "b"]]);

    // Each run touches the cluster it names only.
    const again = await writeCredentials({ dir, cluster: "a", hosts: ["h2"] });
    expect([again.added, again.clusters]).toEqual([["host-h2"], ["a", "b"]]);
    const err = await writeCredentials({ dir, cluster: "a", revoke: ["h3"] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/revoke: no user for host\(s\) h3 of cluster a/);
    const revoked = await writeCredentials({ dir, cluster: "b", revoke: ["h3"] });
    expect(revoked.revoked).toEqual(["host-h3"]);
    expect(revoked.identities.map((i) => i.name)).toEqual(["host-h1", "host-h2", "scheduler", "scheduler-b", "tools", "tools-b"]);
  });

  it("refuses a host id that belongs to another cluster of the directory, naming both clusters", async () => {
    await writeCredentials({ dir, cluster: "a", hosts: ["h1"] });
    const err = await writeCredentials({ dir, cluster: "b", hosts: ["h2", "h1"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect((err as InvalidOptionsError).issues).toEqual([{ field: "hosts", message: "host h1 belongs to cluster a, not b" }]);
    // Nothing of b was written.
    expect((await readdir(dir)).filter((f) => f.includes("-b") || f.startsWith("host-h2"))).toEqual([]);
  });

  it("reads a manifest written before a directory held several clusters: all its identities are its one cluster's", async () => {
    const old = await writeCredentials({ dir, cluster: "a", hosts: ["h1"], tls: false });
    await writeFile(
      join(dir, "identities.json"),
      JSON.stringify({
        version: 1,
        cluster: "a",
        maxPayload: old.maxPayload,
        servers: old.servers,
        tls: null,
        identities: old.identities.map((i) => ({ name: i.name, publicKey: i.publicKey })),
      }),
    );
    const b = await writeCredentials({ dir, cluster: "b", hosts: ["h1"] }).catch((e: unknown) => e);
    expect((b as Error).message).toMatch(/host h1 belongs to cluster a, not b/);
    const next = await writeCredentials({ dir, cluster: "b", hosts: ["h2"] });
    expect(next.clusters).toEqual(["a", "b"]);
    expect(next.identities.map((i) => `${i.name}:${i.identity.cluster}`)).toEqual([
      "host-h1:a",
      "host-h2:b",
      "scheduler:a",
      "scheduler-b:b",
    ]);
    expect(next.identities.find((i) => i.name === "host-h1")?.publicKey).toBe(old.identities[0]!.publicKey);
  });
});
