import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { REFUSED_PORT } from "@drover/bus/testing";
import { libvirtAddress, peerReach } from "../src/peer-reach.js";

describe("peer reach (what a failed migration's probe of the destination says)", () => {
  it("takes the host and libvirt's default port per transport from the URI", () => {
    expect(libvirtAddress("qemu+tcp://198.18.41.2/system")).toEqual({ host: "198.18.41.2", port: 16509 });
    expect(libvirtAddress("qemu://h2.example/system")).toEqual({ host: "h2.example", port: 16514 });
    expect(libvirtAddress("qemu+tls://h2.example:16600/system")).toEqual({ host: "h2.example", port: 16600 });
    expect(libvirtAddress("qemu+ssh://root@[2001:db8::2]/system")).toEqual({ host: "2001:db8::2", port: 22 });
    expect(libvirtAddress("qemu:///system")).toBeNull();
    expect(libvirtAddress("qemu+unix:///system")).toBeNull();
    expect(libvirtAddress("not a uri")).toBeNull();
  });

  it("answers when something listens, refused when the host answers with nothing listening", async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      expect(await peerReach(`qemu+tcp://127.0.0.1:${port}/system`, 5000)).toBe("answers");
    } finally {
      await new Promise((r) => srv.close(r));
    }
    expect(await peerReach(`qemu+tcp://127.0.0.1:${REFUSED_PORT}/system`, 5000)).toBe("refused");
    expect(await peerReach("qemu:///system", 5000)).toBeNull();
  });
});
