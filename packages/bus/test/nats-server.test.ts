import { access } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { describe, expect, it } from "vitest";
import { NatsServer } from "../src/testing/index.js";

const reachable = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = tcpConnect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

describe("testing NatsServer", () => {
  it("runs on a free loopback port with a temporary store and cleans up on dispose", async () => {
    let url = "";
    let storeDir = "";
    let port = 0;
    {
      await using server = await NatsServer.start();
      ({ url, storeDir, port } = server);
      expect(url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(await reachable("127.0.0.1", port)).toBe(true);
      await access(storeDir);
    }
    expect(await reachable("127.0.0.1", port)).toBe(false);
    await expect(access(storeDir)).rejects.toThrow();
  });

  it("reports why nats-server could not start", async () => {
    await using first = await NatsServer.start();
    const err = await NatsServer.start({ port: first.port, startTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/nats-server exited with 1: .*address already in use/);
  });
});
