import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Lab, labStatus, PACKAGE_DIR, readTicks, startGuest } from "../src/index.js";
import { ticksAbove } from "../src/testing/index.js";

const NET = 11;
const virsh = (uri: string, ...args: string[]) => execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 120_000 });
const ip = (...args: string[]) => execFileSync("ip", args, { encoding: "utf8" });

function reachable(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

describe("namespace mode (198.18.11.0/24)", () => {
  let stateDir: string;
  let lab: Lab;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "drover-netns-"));
    lab = await Lab.start({
      hosts: 2,
      guests: 0,
      net: NET,
      stateDir,
      network: "netns",
      natsPort: 4222,
      // br0 on h1 only: a guest attached to it cannot move to h2.
      bridges: (h) => (h === "h1" ? ["br0"] : []),
    });
  });

  afterAll(async () => {
    await lab.stop();
    expect((await labStatus(stateDir)).running).toBe(false);
    expect(ip("netns", "list")).not.toMatch(new RegExp(`drv${NET}-`));
    expect(ip("route", "show", "exact", `198.18.${NET}.0/24`).trim()).toBe("");
    await rm(stateDir, { recursive: true, force: true });
  });

  it("puts each libvirtd in its namespace behind a blackhole route for the subnet", async () => {
    expect(ip("route", "show", "exact", `198.18.${NET}.0/24`)).toMatch(/^blackhole/);
    expect(lab.hosts.map((h) => h.uri)).toEqual([`qemu+tcp://198.18.${NET}.1/system`, `qemu+tcp://198.18.${NET}.2/system`]);
    expect(virsh(lab.host("h2").uri, "hostname").trim()).toBe("h2");
    // Inside h1's namespace, br0 is a real bridge; h2 has none.
    expect(ip("-n", `drv${NET}-h1`, "-o", "link", "show", "type", "bridge")).toContain("br0");
    expect(ip("-n", `drv${NET}-h2`, "-o", "link", "show", "type", "bridge").trim()).toBe("");
    expect((await labStatus(stateDir)).hosts.map((h) => [h.netns, h.bridges, h.nic?.running])).toEqual([
      [`drv${NET}-h1`, ["br0"], true],
      [`drv${NET}-h2`, [], true],
    ]);
  });

  it("migrates over the lab switch, but not a guest whose bridge is missing at the destination", async () => {
    const [h1, h2] = [lab.host("h1"), lab.host("h2")];
    await startGuest(h1, { name: "nsvm1", bridges: ["br0"] });
    await startGuest(h1, { name: "nsvm2" });
    await ticksAbove("nsvm1 ticks", h1.serialFile("nsvm1"), 0);
    await ticksAbove("nsvm2 ticks", h1.serialFile("nsvm2"), 0);
    // What the agent's preflight must catch before trying.
    expect(() => virsh(h1.uri, "migrate", "--live", "--p2p", "--unsafe", "--persistent", "--undefinesource", "nsvm1", h2.uri)).toThrow(
      /br0/,
    );
    expect(virsh(h1.uri, "domstate", "nsvm1").trim()).toBe("running");
    virsh(h1.uri, "destroy", "nsvm1");
    virsh(h1.uri, "undefine", "nsvm1");

    const before = await readTicks(h1.serialFile("nsvm2"));
    virsh(h1.uri, "migrate", "--live", "--p2p", "--unsafe", "--persistent", "--undefinesource", "nsvm2", h2.uri);
    await ticksAbove("nsvm2 ticking on h2", h2.serialFile("nsvm2"), before);
    virsh(h2.uri, "destroy", "nsvm2");
    virsh(h2.uri, "undefine", "nsvm2");
  });

  it("agents inside a host namespace reach NATS on the root side of the lab switch", () => {
    const [host, port] = lab.natsUrl.replace("nats://", "").split(":");
    const out = spawnSync(
      "nsenter",
      [`--net=/run/netns/drv${NET}-h1`, "--", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && head -c 4 <&3`],
      {
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    expect(out.stdout).toBe("INFO");
  });

  it("cut() unplugs a host from the lab network and heal() plugs it back", async () => {
    const h2 = lab.host("h2");
    expect(await reachable(h2.address, 16509)).toBe(true);
    await lab.cut("h2");
    expect(await reachable(h2.address, 16509)).toBe(false);
    await lab.heal("h2");
    await expect.poll(() => reachable(h2.address, 16509), { timeout: 120_000, interval: 200, message: "h2 reachable again" }).toBe(true);
  });

  it("a Wake-on-LAN packet sent from inside h1's namespace powers h2 on", async () => {
    const h2 = lab.host("h2");
    await h2.powerOff();
    expect(await reachable(h2.address, 16509)).toBe(false);
    const wake = spawnSync(
      "nsenter",
      [
        `--net=/run/netns/drv${NET}-h1`,
        "--",
        process.execPath,
        "--import",
        "tsx",
        join(PACKAGE_DIR, "src", "power-cli.ts"),
        "wake",
        h2.mac,
        h2.address,
        "9",
      ],
      { cwd: PACKAGE_DIR, encoding: "utf8" },
    );
    expect(wake.stderr).toBe("");
    expect(wake.status).toBe(0);
    await vi.waitFor(
      async () => {
        await h2.refresh();
        if (h2.power !== "on" || !h2.running)
          throw new Error(`waiting for h2 powered on: power ${h2.power}, libvirtd running ${h2.running}`);
      },
      { timeout: 120_000, interval: 200 },
    );
    expect(virsh(h2.uri, "hostname").trim()).toBe("h2");
  });
});
