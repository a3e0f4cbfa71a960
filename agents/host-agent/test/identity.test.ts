// An agent whose NATS identity is another host's (a config copied from h1 to h2, the seed left as
// it was) is refused at start, naming the host and the seed file, instead of running as a host that
// never reports. A real nats-server with the permissions `drover credentials` writes; no libvirtd.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionFiles, SubscribeDeniedError, writeCredentials, type Credentials } from "@drover/bus";
import { NatsServer } from "@drover/bus/testing";
import { silentLogger } from "@drover/protocol";
import { HostAgent, resolveConfig } from "../src/index.js";

let dir: string;
let creds: Credentials;
let server: NatsServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "drover-agent-identity-"));
  creds = await writeCredentials({ dir: join(dir, "creds"), cluster: "lab", hosts: ["h1", "h2"], servers: ["nats://127.0.0.1:4222"] });
  server = await NatsServer.start({ configFile: creds.serverConfigFile });
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const configFor = (host: string, identity: string) =>
  resolveConfig({
    cluster: "lab",
    host,
    stateDir: join(dir, `state-${host}`),
    nats: connectionFiles(creds, identity, [server.url]),
    libvirt: { uri: `qemu+unix:///system?socket=${join(dir, "absent.sock")}` },
    dirtyRate: { enabled: false },
  });

describe("an agent's NATS identity", () => {
  it("is refused at start when it is another host's, naming the host and the seed", async () => {
    const wrong = configFor("h2", "host-h1");
    const err = await HostAgent.create(wrong, { logger: silentLogger }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SubscribeDeniedError);
    expect((err as Error).message).toBe(
      `this NATS identity may not subscribe to drover.v1.lab.host.h2.cmd: is ${wrong.nats.nkeySeedFile} the one made for host h2 ` +
        "of cluster lab (drover credentials --host h2)?",
    );
  });

  it("starts with its own", async () => {
    const agent = await HostAgent.create(configFor("h2", "host-h2"), { logger: silentLogger });
    await agent.shutdown();
  });
});
