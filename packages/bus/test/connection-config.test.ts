// Secure by default: a `nats` section that would reach another machine's server in clear or
// without an identity is refused at load, naming the URL (nothing here connects anywhere).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import {
  NatsConnectionConfig,
  busConnectionOptions,
  identityShown,
  insecureServers,
  natsFileProblems,
  warnInsecureServers,
} from "../src/index.js";
import { memoryLogger } from "@drover/protocol/testing";

const REMOTE = "nats://nats1.example:4222";
const tls = { ca: "/etc/drover/ca.pem" };
const seed = { nkeySeedFile: "/etc/drover/h1.seed" };

function problems(nats: unknown): string[] {
  const r = NatsConnectionConfig.safeParse(nats);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("the nats section's transport", () => {
  it("takes a server on this machine with neither TLS nor an identity", () => {
    expect(problems({ servers: ["nats://127.0.0.1:4222", "localhost:4222", "tls://[::1]:4222"] })).toEqual([]);
  });

  it("refuses a server off this machine without TLS, naming it and the ways out", () => {
    const [p, ...rest] = problems({ servers: ["nats://127.0.0.1:4222", REMOTE], ...seed });
    expect(rest).toEqual([]);
    expect(p).toMatch(/^servers\.1: nats:\/\/nats1\.example:4222 is not on this machine and nats\.tls is not set: .*in clear/);
    expect(p).toMatch(/Set nats\.tls .*or nats\.insecure: true$/);
  });

  it("refuses a server off this machine with TLS but no identity", () => {
    expect(problems({ servers: [REMOTE], tls })).toEqual([expect.stringMatching(/^servers\.0: .* no identity is set/)]);
  });

  it("takes TLS with any identity: a seed, creds, user, token or a client certificate", () => {
    for (const identity of [
      seed,
      { credsFile: "/etc/drover/h1.creds" },
      { user: "u", passFile: "/etc/drover/pass" },
      { tokenFile: "/etc/drover/token" },
    ])
      expect(problems({ servers: [REMOTE], tls, ...identity }), JSON.stringify(identity)).toEqual([]);
    expect(problems({ servers: [REMOTE], tls: { ...tls, cert: "/etc/drover/c.pem", key: "/etc/drover/k.pem" } })).toEqual([]);
  });

  it("takes anything with insecure: true, but still refuses what is no URL", () => {
    expect(problems({ servers: [REMOTE], insecure: true })).toEqual([]);
    expect(problems({ servers: ["nats://:4222", "a b"], insecure: true })).toEqual([
      expect.stringMatching(/^servers\.0: .* is not a server URL/),
      expect.stringMatching(/^servers\.1: a b is not a server URL/),
    ]);
  });

  it("lists what insecure lets through, and the apps say it once per server at start", () => {
    const n = { servers: ["nats://127.0.0.1:4222", REMOTE, "nats://nats2.example:4222"], insecure: true };
    expect(insecureServers(n).map((x) => x.index)).toEqual([1, 2]);
    const log = memoryLogger();
    warnInsecureServers(n, log);
    expect(log.entries.map((e) => [e.level, e.obj["server"]])).toEqual([
      ["warn", REMOTE],
      ["warn", "nats://nats2.example:4222"],
    ]);
    const quiet = memoryLogger();
    warnInsecureServers({ servers: [REMOTE], tls, ...seed }, quiet);
    expect(quiet.entries).toEqual([]);
  });

  it("never repeats a password written into a server URL", () => {
    const withPassword = "nats://drover:hunter2@nats1.example:4222";
    const [p] = problems({ servers: [withPassword] });
    expect(p).toMatch(/^servers\.0: nats:\/\/\*\*\*@nats1\.example:4222 is not on this machine/);
    const log = memoryLogger();
    warnInsecureServers({ servers: [withPassword], insecure: true }, log);
    expect(log.entries).toHaveLength(1);
    expect(JSON.stringify(log.entries)).not.toContain("hunter2");
  });

  it("names the identity a refusal points at by its file or name, never a token's value", () => {
    expect(identityShown({ ...seed, tls: { ...tls, cert: "/etc/drover/h1.pem" } })).toBe("/etc/drover/h1.seed");
    expect(identityShown({ credsFile: "/etc/drover/h1.creds" })).toBe("/etc/drover/h1.creds");
    expect(identityShown({ user: "drover", tls })).toBe('user "drover"');
    expect(identityShown({ tokenFile: "/etc/drover/nats-token" })).toBe("the token in /etc/drover/nats-token");
    expect(identityShown({ token: "s3cret-token" })).toBe("the configured token");
    expect(identityShown({ tls: { ...tls, cert: "/etc/drover/h1.pem" } })).toBe("the certificate /etc/drover/h1.pem");
    expect(identityShown({})).toBe("the anonymous NATS identity");
  });

  it("keeps a plain connection to the configured servers: a cluster may not lead it elsewhere", () => {
    expect(busConnectionOptions({ servers: ["nats://127.0.0.1:4222"] }).discoverServers).toBe(false);
    expect(busConnectionOptions({ servers: ["nats://127.0.0.1:4222"], tls }).discoverServers).toBe(true);
    expect(busConnectionOptions({ servers: [REMOTE], insecure: true }).discoverServers).toBe(true);
  });

  it("names, by config key, every secret or TLS file a connect would fail on, without connecting", async () => {
    const dir = await mkdtemp(join(tmpdir(), "drover-natsfiles-"));
    try {
      const file = (name: string, text: string) => writeFile(join(dir, name), text).then(() => join(dir, name));
      const check = (n: object) => natsFileProblems(NatsConnectionConfig.parse({ servers: ["nats://127.0.0.1:1"], ...n }), memoryLogger());
      const ca = await file("ca.pem", "pem");
      expect(
        await check({ tls: { ca }, nkeySeedFile: await file("good.seed", new TextDecoder().decode(nkeys.createUser().getSeed())) }),
      ).toEqual([]);
      expect(await check({ tls: { ca: join(dir, "absent.pem") } })).toEqual([
        `nats.tls.ca: cannot read ${join(dir, "absent.pem")}: ENOENT`,
      ]);
      expect(await check({ tls: { ca, cert: ca, key: join(dir, "absent.key") } })).toEqual([
        `nats.tls.key: cannot read ${join(dir, "absent.key")}: ENOENT`,
      ]);
      const notSeed = await file("bad.seed", "hunter2\n");
      expect(await check({ nkeySeedFile: notSeed })).toEqual([`nats.nkeySeedFile: ${notSeed} does not hold a user nkey seed (SU...)`]);
      expect(await check({ user: "u", passFile: await file("empty", "") })).toEqual([`nats.passFile: ${join(dir, "empty")} is empty`]);
      // Every problem at once, not the first only.
      expect(await check({ tls: { ca: join(dir, "absent.pem") }, credsFile: join(dir, "absent.creds"), nkeySeedFile: notSeed })).toEqual([
        `nats.tls.ca: cannot read ${join(dir, "absent.pem")}: ENOENT`,
        `nats.nkeySeedFile: ${notSeed} does not hold a user nkey seed (SU...)`,
        `nats.credsFile: cannot read ${join(dir, "absent.creds")}: ENOENT`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
