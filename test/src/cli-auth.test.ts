// The CLI against a real scheduler serving HTTPS with a certificate from a CA made here by the
// openssl CLI: the token from DROVER_TOKEN or a 0600 file (a looser file is refused, named), the CA
// from DROVER_CA_FILE, tokens made, used, refused and revoked through `drover token`, and who asked
// shown by `drover history`.
import { execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { NatsServer, freePort } from "@drover/bus/testing";
import { drover, http, useAdminToken } from "./helpers/api.js";
import { REPO_ROOT } from "./helpers/drover-lab.js";

const run = promisify(execFile);

/** A CA and a server certificate for 127.0.0.1 signed by it (EC keys: quick to make). */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => join(dir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=drover-test-ca"]);
  await run("openssl", ["req", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=127.0.0.1"]);
  await writeFile(f("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  await run("openssl", [
    "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("server.crt"), "-days", "2", "-extfile", f("ext.cnf"),
  ]); // prettier-ignore
  return { ca: f("ca.crt"), cert: f("server.crt"), key: f("server.key") };
}

describe("drover CLI with tokens over HTTPS", () => {
  it(
    "authenticates with a 0600 token file or DROVER_TOKEN, trusts the scheduler's CA, and manages tokens",
    { timeout: 300_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "drover-cli-auth-"));
      await using nats = await NatsServer.start();
      const certs = await makeCerts(dir);
      const port = await freePort();
      const cfg = join(dir, "scheduler.yaml");
      const config = {
        cluster: "cliauth",
        nats: { servers: [nats.url] },
        stateDir: join(dir, "state"),
        http: { host: "127.0.0.1", port, tls: { cert: certs.cert, key: certs.key } },
      };
      await writeFile(cfg, JSON.stringify(config));
      const api = `https://127.0.0.1:${port}`;
      await useAdminToken(api, cfg, "e2e");
      const sched = spawn(process.execPath, [join(REPO_ROOT, "scheduler", "bin", "drover-scheduler.js"), "--config", cfg], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let log = "";
      sched.stdout.on("data", (b: Buffer) => (log += b.toString()));
      sched.stderr.on("data", (b: Buffer) => (log += b.toString()));
      try {
        await expect
          .poll(() => log.includes('"msg":"scheduler started"'), { timeout: 90_000, interval: 200, message: "the scheduler to start" })
          .toBe(true);
        expect(log).toContain(`"http":"${api}"`);
        const ca = { DROVER_CA_FILE: certs.ca };

        // Plain HTTP gets no answer from the TLS port; the CLI without the CA refuses the certificate.
        await expect(http(`http://127.0.0.1:${port}`, "GET", "/v1/status")).rejects.toThrow();
        const noCa = await drover(api, ["status"]);
        expect([noCa.code, noCa.stderr]).toEqual([4, expect.stringMatching(/TLS to https:\/\/127\.0\.0\.1:\d+ failed .*--ca-file/)]);

        const ok = await drover(api, ["status"], 60_000, ca);
        expect([ok.code, ok.stdout]).toEqual([0, expect.stringContaining("cluster cliauth")]);
        const none = await drover(api, ["status"], 60_000, { ...ca, DROVER_TOKEN: "" });
        expect([none.code, none.stderr]).toEqual([
          1,
          expect.stringMatching(/401 unauthorized: no token: .*no token found: set DROVER_TOKEN/),
        ]);

        // An operator token made through the CLI, printed alone on stdout, kept in a file.
        const made = await drover(api, ["token", "create", "--name", "ops", "--role", "operator"], 60_000, ca);
        expect(made.code).toBe(0);
        expect(made.stdout).toMatch(/^drover_[A-Za-z0-9_-]{43}\n$/);
        const file = join(dir, "ops-token");
        await writeFile(file, made.stdout, { mode: 0o644 });
        await chmod(file, 0o644);
        const asOps = { ...ca, DROVER_TOKEN: "" };
        const loose = await drover(api, ["--token-file", file, "status"], 60_000, asOps);
        expect([loose.code, loose.stderr]).toEqual([
          2,
          expect.stringContaining(`token file ${file} may be read by group or others (mode 644)`),
        ]);
        await chmod(file, 0o600);
        const plan = await drover(api, ["--token-file", file, "plan", "balance", "--json"], 60_000, asOps);
        expect([plan.code, JSON.parse(plan.stdout || "{}").requestedBy]).toEqual([0, "api:ops"]);
        const denied = await drover(api, ["--token-file", file, "token", "list"], 60_000, asOps);
        expect([denied.code, denied.stderr]).toEqual([
          1,
          expect.stringMatching(/403 forbidden: token "ops" has role operator; GET \/v1\/tokens needs admin/),
        ]);

        // One that expires, from a duration ahead; a time that is no time is refused before asking.
        const ci = await drover(api, ["token", "create", "--name", "ci", "--role", "viewer", "--expires", "2h"], 60_000, ca);
        expect([ci.code, ci.stderr]).toEqual([
          0,
          expect.stringMatching(/token "ci" \(viewer, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\) created/),
        ]);
        const never = await drover(api, ["token", "create", "--name", "x", "--role", "viewer", "--expires", "later"], 60_000, ca);
        expect([never.code, never.stderr]).toEqual([2, expect.stringContaining('--expires "later" is neither an ISO time')]);

        const list = await drover(api, ["token", "list", "--json"], 60_000, ca);
        const tokens = JSON.parse(list.stdout).tokens as { name: string; role: string; expiresAtMs: number | null }[];
        expect(tokens.map((t) => `${t.name}:${t.role}`)).toEqual(["e2e:admin", "ops:operator", "ci:viewer"]);
        const inTwoHours = Date.now() + 7_200_000;
        expect(tokens.map((t) => t.expiresAtMs === null || Math.abs(t.expiresAtMs - inTwoHours) < 120_000)).toEqual([true, true, true]);
        expect(tokens[2]!.expiresAtMs).not.toBeNull();
        expect(list.stdout).not.toContain(made.stdout.trim());
        const history = await drover(api, ["history"], 60_000, ca);
        expect(history.stdout).toMatch(/plan .*api:ops/);
        expect(history.stdout).toMatch(/config .*api:e2e/);

        expect((await drover(api, ["token", "revoke", "ops"], 60_000, ca)).code).toBe(0);
        const revoked = await drover(api, ["--token-file", file, "status"], 60_000, asOps);
        expect([revoked.code, revoked.stderr]).toEqual([1, expect.stringContaining('token "ops" was revoked')]);
      } finally {
        sched.kill("SIGTERM");
        await new Promise((r) => sched.once("exit", r));
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
