// Each identity can do exactly its job, enforced by a real nats-server started with the config
// writeCredentials() writes: nkey users with per-subject permissions, mutual TLS, max_payload. The
// directory holds a second cluster (P), whose identities read C's host reports and nothing else of C.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nkeys } from "@nats-io/nats-core";
import { silentLogger, streams, subjects } from "@drover/protocol";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import {
  BusConnectError,
  BusStatusType,
  JetStreamOpError,
  LeaderLease,
  journalBucket,
  leaseBucket,
  parseIdentityName,
  inboxPrefixFor,
  PublishFailedError,
  busConnectionOptions,
  connectionFiles,
  writeCredentials,
  type Bus,
  type BusStatus,
  type Credentials,
} from "../src/index.js";
import { connectTo } from "./helpers.js";

const C = "perm";
/** Another cluster in the same directory, on the same server. */
const P = "peer";
const Msg = z.object({ s: z.string() });

describe("identities on a real nats-server with mutual TLS", () => {
  let dir: string;
  let creds: Credentials;
  let server: NatsServer;
  const open: Bus[] = [];

  /** Connects as `name`; a scheduler with its cluster's inbox prefix, as the scheduler connects. */
  const as = async (name: string, over: Record<string, unknown> = {}): Promise<Bus> => {
    const id = parseIdentityName(name);
    const inbox = id?.kind === "scheduler" ? { inboxPrefix: inboxPrefixFor(id, C) } : {};
    const bus = await connectTo(server, { ...busConnectionOptions(connectionFiles(creds, name, [server.url])), ...inbox, ...over });
    open.push(bus);
    return bus;
  };
  const statuses = (bus: Bus): BusStatus[] => {
    const seen: BusStatus[] = [];
    bus.onStatus((s) => seen.push(s));
    return seen;
  };
  const denied = (seen: BusStatus[], operation: string, subject: string) => () =>
    seen.some((s) => s.type === BusStatusType.PermissionDenied && s.operation === operation && s.subject === subject);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-bus-perm-"));
    creds = await writeCredentials({
      dir: join(dir, "creds"),
      cluster: C,
      hosts: ["h1", "h2"],
      tools: true,
      servers: ["nats://127.0.0.1:4222"],
    });
    creds = await writeCredentials({ dir: join(dir, "creds"), cluster: P, hosts: ["p1"] });
    server = await NatsServer.start({ configFile: creds.serverConfigFile });
  });
  afterAll(async () => {
    await Promise.allSettled(open.map((b) => b.close()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the scheduler's identity commands h1, and h1 answers", async () => {
    const h1 = await as("host-h1");
    const sched = await as("scheduler");
    h1.serve(subjects.hostCommand(C, "h1"), Msg, Msg, (m) => ({ s: `h1 got ${m.s}` }));
    await h1.flush();
    expect(await sched.request(subjects.hostCommand(C, "h1"), Msg, { s: "migrate" }, Msg)).toEqual({ s: "h1 got migrate" });
  });

  it("h1 cannot publish a command to h2: the server refuses it and h2 never sees it", async () => {
    const h1 = await as("host-h1");
    const h2 = await as("host-h2");
    const sched = await as("scheduler");
    const got: string[] = [];
    h2.serve(subjects.hostCommand(C, "h2"), Msg, Msg, (m) => {
      got.push(m.s);
      return m;
    });
    await h2.flush();
    const seen = statuses(h1);
    h1.publish(subjects.hostCommand(C, "h2"), Msg, { s: "power-off from h1" });
    await expect
      .poll(denied(seen, "publish", subjects.hostCommand(C, "h2")), { timeout: 15_000, interval: 20, message: "h1's permission violation" })
      .toBe(true);
    expect(await sched.request(subjects.hostCommand(C, "h2"), Msg, { s: "from scheduler" }, Msg)).toEqual({ s: "from scheduler" });
    expect(got).toEqual(["from scheduler"]);
  });

  it("h1 cannot publish a report as h2; its own report goes through", async () => {
    const h1 = await as("host-h1");
    const sched = await as("scheduler");
    const reports: string[] = [];
    sched.subscribe(subjects.allHostReports(C), Msg, (_m, ctx) => void reports.push(ctx.subject));
    await sched.flush();
    const seen = statuses(h1);
    h1.publish(subjects.hostReport(C, "h2"), Msg, { s: "h2 has no VMs" });
    h1.publish(subjects.hostReport(C, "h1"), Msg, { s: "h1 report" });
    await expect.poll(() => reports.length > 0, { timeout: 15_000, interval: 20, message: "h1's own report" }).toBe(true);
    await expect
      .poll(denied(seen, "publish", subjects.hostReport(C, "h2")), { timeout: 15_000, interval: 20, message: "h1's permission violation" })
      .toBe(true);
    expect(reports).toEqual([subjects.hostReport(C, "h1")]);
  });

  it("h1 cannot publish progress or a result of h2's migration; the scheduler hears h1's own", async () => {
    const h1 = await as("host-h1");
    const sched = await as("scheduler");
    const heard: string[] = [];
    sched.subscribe(subjects.allMigrationProgress(C), Msg, (_m, ctx) => void heard.push(ctx.subject));
    sched.subscribe(subjects.allMigrationResults(C), Msg, (_m, ctx) => void heard.push(ctx.subject));
    await sched.flush();
    const seen = statuses(h1);
    h1.publish(subjects.migrationResult(C, "h2", "m7"), Msg, { s: "succeeded" });
    h1.publish(subjects.migrationProgress(C, "h2", "m7"), Msg, { s: "99%" });
    h1.publish(subjects.migrationProgress(C, "h1", "m1"), Msg, { s: "50%" });
    h1.publish(subjects.migrationResult(C, "h1", "m1"), Msg, { s: "succeeded" });
    await expect.poll(() => heard.length === 2, { timeout: 15_000, interval: 20, message: "h1's own progress and result" }).toBe(true);
    for (const subject of [subjects.migrationResult(C, "h2", "m7"), subjects.migrationProgress(C, "h2", "m7")]) {
      await expect.poll(denied(seen, "publish", subject), { timeout: 15_000, interval: 20, message: `refused: ${subject}` }).toBe(true);
    }
    expect(heard.sort()).toEqual([subjects.migrationProgress(C, "h1", "m1"), subjects.migrationResult(C, "h1", "m1")].sort());
  });

  it("h1 stores its own migration results in the stream (acked on its own inbox), not h2's; the scheduler reads them durably", async () => {
    const sched = await as("scheduler");
    const stream = streams.migrationResults(C);
    await sched.jetstream.ensureStream(stream, [subjects.allMigrationResults(C)], { maxAgeMs: 60_000 });
    const h1 = await as("host-h1", { inboxPrefix: subjects.hostInbox(C, "h1") });
    expect(await h1.jetstream.publish(subjects.migrationResult(C, "h1", "m1"), Msg, { s: "succeeded" }, { msgId: "c1" })).toBe(1);
    const seen = statuses(h1);
    await expect(h1.jetstream.publish(subjects.migrationResult(C, "h2", "m7"), Msg, { s: "succeeded" })).rejects.toThrow(
      /jetstream publish/,
    );
    expect(denied(seen, "publish", subjects.migrationResult(C, "h2", "m7"))()).toBe(true);
    // Another host's inbox is not h1's to read.
    const h2 = await as("host-h2", { inboxPrefix: subjects.hostInbox(C, "h1") });
    await expect(h2.jetstream.publish(subjects.migrationResult(C, "h2", "m2"), Msg, { s: "failed" })).rejects.toThrow(/jetstream publish/);

    const got: string[] = [];
    const consumer = await sched.jetstream.consume(
      stream,
      streams.migrationResultsConsumer,
      Msg,
      (_m, ctx) => {
        got.push(ctx.subject);
        return "ack";
      },
      { filterSubject: subjects.allMigrationResults(C) },
    );
    // h2's own result reached the stream (its ack could not reach it): the stream holds what the server accepted.
    await expect.poll(() => got.includes(subjects.migrationResult(C, "h1", "m1")), { timeout: 15_000 }).toBe(true);
    expect(got).not.toContain(subjects.migrationResult(C, "h2", "m7"));
    await consumer.stop();
    // A host may not read the stream.
    await expect(
      h1.jetstream.consume(stream, "h1-reader", Msg, () => "ack", { filterSubject: subjects.allMigrationResults(C) }),
    ).rejects.toBeInstanceOf(JetStreamOpError);
  });

  it("h1 cannot subscribe to h2's commands: the subscription is refused and ended", async () => {
    const h1 = await as("host-h1");
    const sched = await as("scheduler");
    const seen = statuses(h1);
    const got: string[] = [];
    const sub = h1.subscribe(subjects.hostCommand(C, "h2"), Msg, (m) => void got.push(m.s));
    await expect
      .poll(denied(seen, "subscription", subjects.hostCommand(C, "h2")), {
        timeout: 15_000,
        interval: 20,
        message: "h1's subscription violation",
      })
      .toBe(true);
    await sub.closed;
    sched.publish(subjects.hostCommand(C, "h2"), Msg, { s: "for h2 only" });
    await sched.flush();
    await h1.flush();
    expect(got).toEqual([]);
  });

  it("the tools identity reads reports but cannot command", async () => {
    const tools = await as("tools");
    const h1 = await as("host-h1");
    const reports: string[] = [];
    tools.subscribe(subjects.allHostReports(C), Msg, (m) => void reports.push(m.s));
    await tools.flush();
    h1.publish(subjects.hostReport(C, "h1"), Msg, { s: "r" });
    await expect
      .poll(() => reports.length === 1, { timeout: 15_000, interval: 20, message: "the report at the tools identity" })
      .toBe(true);
    const seen = statuses(tools);
    tools.publish(subjects.hostCommand(C, "h1"), Msg, { s: "migrate" });
    await expect
      .poll(denied(seen, "publish", subjects.hostCommand(C, "h1")), {
        timeout: 15_000,
        interval: 20,
        message: "the tools identity's violation",
      })
      .toBe(true);
  });

  it("the scheduler may hold its cluster's leader lease; a host may not touch it", async () => {
    const sched = await as("scheduler");
    const lease = await LeaderLease.open(sched, { key: C, holder: { id: "s1" }, ttlMs: 5000, replicas: 1, logger: silentLogger });
    expect(await lease.tryOnce()).toMatchObject({ kind: "leader" });
    expect(await lease.tryOnce()).toMatchObject({ kind: "leader" }); // renewed
    expect((await lease.replicas())?.replicas).toEqual([]);
    await lease.stop();
    // The journal of moves in flight: written, listed and removed under the cluster's own keys only.
    const journal = await sched.jetstream.kv(journalBucket(C), Msg, { replicas: 1 });
    await journal.put(`${C}.m1`, { s: "sent" });
    expect(await journal.readFromLeader(`${C}.>`)).toEqual([{ key: `${C}.m1`, value: { s: "sent" } }]);
    await journal.remove(`${C}.m1`);
    expect(await journal.get(`${C}.m1`)).toBeUndefined();
    expect(await sched.jetstream.storedMessages(`KV_${journalBucket(C)}`)).toBe(0);
    await expect(journal.put("other.m1", { s: "sent" })).rejects.toThrow();
    const h1 = await as("host-h1");
    await expect(LeaderLease.open(h1, { key: C, holder: { id: "h1" }, ttlMs: 5000, replicas: 1, logger: silentLogger })).rejects.toThrow(
      /open kv bucket drover-leader/,
    );
  });

  it("a scheduler of another cluster can neither use nor delete the first cluster's lease and journal, nor read its replies; its own it may", async () => {
    const sched = await as("scheduler");
    const lease = await LeaderLease.open(sched, { key: C, holder: { id: "s1" }, ttlMs: 5000, replicas: 1, logger: silentLogger });
    const journal = await sched.jetstream.kv(journalBucket(C), Msg, { replicas: 1 });
    await journal.put(`${C}.m2`, { s: "sent" });
    const peer = await as("scheduler-peer", { requestTimeoutMs: 2000 });
    const seen = statuses(peer);
    await expect(peer.jetstream.kv(journalBucket(C), Msg, { mustExist: true, settleMs: 0 })).rejects.toThrow(
      /open kv bucket drover-journal-perm/,
    );
    for (const bucket of [journalBucket(C), leaseBucket(C)]) {
      await expect(peer.jetstream.deleteStream(`KV_${bucket}`)).rejects.toThrow(JetStreamOpError);
      await expect.poll(denied(seen, "publish", `$JS.API.STREAM.DELETE.KV_${bucket}`), { timeout: 15_000, interval: 20 }).toBe(true);
      expect(await sched.jetstream.storedMessages(`KV_${bucket}`)).toBeDefined();
    }
    expect(await journal.get(`${C}.m2`)).toEqual({ s: "sent" });
    // Nor read the replies to the first cluster's scheduler (its commands' answers, its JetStream calls).
    const inbox = `${subjects.schedulerInbox(C)}.>`;
    peer.subscribe(inbox, Msg, () => undefined);
    await expect.poll(denied(seen, "subscription", inbox), { timeout: 15_000, interval: 20 }).toBe(true);
    const own = await peer.jetstream.kv(journalBucket(P), Msg, { replicas: 1 });
    await own.put(`${P}.m1`, { s: "sent" });
    expect(await own.readFromLeader()).toEqual([{ key: `${P}.m1`, value: { s: "sent" } }]);
    await lease.stop();
  });

  it("a host of another cluster publishes its own report, not a report or command of the first cluster", async () => {
    const p1 = await as("host-p1");
    const h1 = await as("host-h1");
    const schedP = await as("scheduler-peer");
    const sched = await as("scheduler");
    const reports: string[] = [];
    schedP.subscribe(subjects.allHostReports(P), Msg, (_m, ctx) => void reports.push(ctx.subject));
    sched.subscribe(subjects.allHostReports(C), Msg, (_m, ctx) => void reports.push(ctx.subject));
    const commands: string[] = [];
    h1.serve(subjects.hostCommand(C, "h1"), Msg, Msg, (m) => {
      commands.push(m.s);
      return m;
    });
    await Promise.all([schedP.flush(), sched.flush(), h1.flush()]);
    const seen = statuses(p1);
    const refused = [subjects.hostReport(C, "p1"), subjects.hostReport(C, "h1"), subjects.hostCommand(C, "h1")];
    for (const subject of refused) p1.publish(subject, Msg, { s: "from p1" });
    p1.publish(subjects.hostReport(P, "p1"), Msg, { s: "p1 report" });
    for (const subject of refused) {
      await expect.poll(denied(seen, "publish", subject), { timeout: 15_000, interval: 20, message: `refused: ${subject}` }).toBe(true);
    }
    await expect.poll(() => reports.length > 0, { timeout: 15_000, interval: 20, message: "p1's own report" }).toBe(true);
    await Promise.all([schedP.flush(), sched.flush(), h1.flush()]);
    expect(reports).toEqual([subjects.hostReport(P, "p1")]);
    expect(commands).toEqual([]);
  });

  it("a host of another cluster reads the first cluster's host reports, never its commands, events or results", async () => {
    const p1 = await as("host-p1");
    const h1 = await as("host-h1");
    const seen = statuses(p1);
    const got: string[] = [];
    p1.subscribe(subjects.allHostReports(C), Msg, (_m, ctx) => void got.push(ctx.subject));
    const refused = [subjects.hostCommand(C, "h1"), subjects.allHostEvents(C), subjects.allMigrationResults(C)];
    for (const subject of refused) p1.subscribe(subject, Msg, (_m, ctx) => void got.push(ctx.subject));
    for (const subject of refused) {
      await expect
        .poll(denied(seen, "subscription", subject), { timeout: 15_000, interval: 20, message: `refused: ${subject}` })
        .toBe(true);
    }
    h1.publish(subjects.hostReport(C, "h1"), Msg, { s: "h1 report" });
    await expect.poll(() => got.length > 0, { timeout: 15_000, interval: 20, message: "h1's report at p1" }).toBe(true);
    h1.publish(subjects.hostEvent(C, "h1"), Msg, { s: "h1 event" });
    await h1.flush();
    await p1.flush();
    expect(got).toEqual([subjects.hostReport(C, "h1")]);
  });

  it("the first cluster's scheduler reads another cluster's reports but cannot command its hosts", async () => {
    const sched = await as("scheduler");
    const p1 = await as("host-p1");
    const reports: string[] = [];
    sched.subscribe(subjects.allHostReports(P), Msg, (_m, ctx) => void reports.push(ctx.subject));
    const commands: string[] = [];
    p1.serve(subjects.hostCommand(P, "p1"), Msg, Msg, (m) => {
      commands.push(m.s);
      return m;
    });
    await Promise.all([sched.flush(), p1.flush()]);
    const seen = statuses(sched);
    sched.publish(subjects.hostCommand(P, "p1"), Msg, { s: "migrate from the wrong scheduler" });
    await expect
      .poll(denied(seen, "publish", subjects.hostCommand(P, "p1")), { timeout: 15_000, interval: 20, message: "the scheduler's violation" })
      .toBe(true);
    p1.publish(subjects.hostReport(P, "p1"), Msg, { s: "p1 report" });
    await expect.poll(() => reports.length > 0, { timeout: 15_000, interval: 20, message: "p1's report at the scheduler" }).toBe(true);
    expect(reports).toEqual([subjects.hostReport(P, "p1")]);
    await p1.flush();
    expect(commands).toEqual([]);
  });

  it("a client without credentials, or with an unknown nkey, cannot connect", async () => {
    const files = connectionFiles(creds, "tools", [server.url]);
    const noUser = await connectTo(server, { tls: { caFile: files.tls!.ca, certFile: files.tls!.cert, keyFile: files.tls!.key } }).catch(
      (e: unknown) => e,
    );
    expect(noUser).toBeInstanceOf(BusConnectError);
    expect(String((noUser as Error).message)).toMatch(/authorization violation/i);
    const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
    const strangerErr = await connectTo(server, { ...busConnectionOptions(files), nkeySeedFile: undefined, nkeySeed: stranger }).catch(
      (e: unknown) => e,
    );
    expect(strangerErr).toBeInstanceOf(BusConnectError);
    expect(String((strangerErr as Error).message)).toMatch(/authorization violation/i);
  });

  it("TLS refuses a client that does not trust the CA, one without a certificate, and one whose certificate another CA signed", async () => {
    const files = connectionFiles(creds, "host-h1", [server.url]);
    const auth = { ...busConnectionOptions(files), connectTimeoutMs: 2000 };
    // No CA: the server's certificate is not trusted by the client.
    const noCa = await connectTo(server, { ...auth, tls: { certFile: files.tls!.cert, keyFile: files.tls!.key } }).catch((e: unknown) => e);
    expect(noCa).toBeInstanceOf(BusConnectError);
    expect(String((noCa as Error).cause)).toMatch(/self[- ]signed|unable to verify|certificate/i);
    // Trusts the CA but shows no certificate: the server requires one (verify: true).
    const noCert = await connectTo(server, { ...auth, tls: { caFile: files.tls!.ca } }).catch((e: unknown) => e);
    expect(noCert).toBeInstanceOf(BusConnectError);
    // A certificate from another CA, with a valid nkey.
    const other = await writeCredentials({ dir: join(dir, "other"), cluster: C, hosts: ["h1"], servers: ["nats://127.0.0.1:4222"] });
    const foreign = connectionFiles(other, "host-h1", [server.url]);
    const wrongCa = await connectTo(server, {
      ...auth,
      tls: { caFile: files.tls!.ca, certFile: foreign.tls!.cert, keyFile: foreign.tls!.key },
    }).catch((e: unknown) => e);
    expect(wrongCa).toBeInstanceOf(BusConnectError);
  });

  it("a payload over max_payload is refused with an error naming the limit", async () => {
    const h1 = await as("host-h1");
    const big = { s: "x".repeat(creds.maxPayload + 1) };
    const err = (() => {
      try {
        h1.publish(subjects.hostReport(C, "h1"), Msg, big);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PublishFailedError);
    expect((err as Error).message).toMatch(/max_payload/);
    expect(h1.nc.info?.max_payload).toBe(creds.maxPayload);
  });

  it("a host added later can connect; once revoked and the server reloaded, it cannot", async () => {
    const extra = await writeCredentials({ dir: creds.dir, cluster: C, hosts: ["h3"] });
    expect(extra.added).toEqual(["host-h3"]);
    await server.reload();
    const files = connectionFiles(extra, "host-h3", [server.url]);
    const seed = (await readFile(files.nkeySeedFile, "utf8")).trim();
    // h1's certificate: the TLS files of h3 go with its user; what is refused here is the nkey.
    const h3Auth = { ...busConnectionOptions(connectionFiles(extra, "host-h1", [server.url])), nkeySeedFile: undefined, nkeySeed: seed };
    // The reload is confirmed: h3 gets in at once.
    const h3 = await connectTo(server, h3Auth);
    await h3.close();
    const after = await writeCredentials({ dir: creds.dir, cluster: C, revoke: ["h3"] });
    expect(after.revoked).toEqual(["host-h3"]);
    expect(existsSync(files.nkeySeedFile)).toBe(false);
    await server.reload();
    const refused = await connectTo(server, h3Auth).then(
      (b) => b.close().then(() => "connected"),
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BusConnectError);
    expect((refused as Error).message).toMatch(/authorization violation/i);
  });
});
