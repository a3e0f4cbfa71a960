import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nkeys } from "@nats-io/nats-core";
import { z } from "zod";
import { NatsServer } from "../src/testing/index.js";
import { BusConnectError } from "../src/index.js";
import { connectTo } from "./helpers.js";

const Echo = z.object({ s: z.string() });

async function roundTrip(server: NatsServer, creds: Parameters<typeof connectTo>[1]): Promise<string> {
  await using bus = await connectTo(server, creds);
  await using _svc = bus.serve("auth.echo", Echo, Echo, (m) => m);
  await bus.flush();
  return (await bus.request("auth.echo", Echo, { s: "hi" }, Echo)).s;
}

describe("credentials", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-bus-auth-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("user and password", async () => {
    await using server = await NatsServer.start({ args: ["--user", "agent", "--pass", "s3cret"] });
    expect(await roundTrip(server, { user: "agent", pass: "s3cret" })).toBe("hi");
    const err = await connectTo(server, { user: "agent", pass: "wrong" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusConnectError);
    expect((err as Error).message).toMatch(/authorization/i);
  });

  it("token", async () => {
    await using server = await NatsServer.start({ args: ["--auth", "tok-123"] });
    expect(await roundTrip(server, { token: "tok-123" })).toBe("hi");
    await expect(connectTo(server, {})).rejects.toBeInstanceOf(BusConnectError);
  });

  it("nkey seed", async () => {
    const user = nkeys.createUser();
    const conf = join(dir, "nkey.conf");
    await writeFile(conf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    await using server = await NatsServer.start({ args: ["-c", conf] });
    expect(await roundTrip(server, { nkeySeed: new TextDecoder().decode(user.getSeed()) })).toBe("hi");
    const other = new TextDecoder().decode(nkeys.createUser().getSeed());
    await expect(connectTo(server, { nkeySeed: other })).rejects.toBeInstanceOf(BusConnectError);
  });

  it("TLS with a private CA", async () => {
    // A throwaway CA and a server certificate for 127.0.0.1, made with openssl. The node transport
    // verifies a loopback IP as "localhost", hence both names.
    const f = (n: string) => join(dir, n);
    const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=drover-test-ca",
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
    );
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", f("srv.key"), "-out", f("srv.csr"));
    await writeFile(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    ssl(
      "x509",
      "-req",
      "-in",
      f("srv.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f("san.ext"),
      "-out",
      f("srv.pem"),
    );
    await using server = await NatsServer.start({ args: ["--tls", "--tlscert", f("srv.pem"), "--tlskey", f("srv.key")] });
    expect(await roundTrip(server, { tls: { caFile: f("ca.pem") } })).toBe("hi");
    // Without the CA the server's certificate is not trusted.
    await expect(connectTo(server, { tls: {} })).rejects.toBeInstanceOf(BusConnectError);
  });
});
