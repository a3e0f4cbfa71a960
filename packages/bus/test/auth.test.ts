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
});
