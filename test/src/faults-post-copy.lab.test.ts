// The link between source and destination cut during a move's post-copy phase (namespace lab), held
// cut until libvirt declares the post-copy failed, then restored. From the switch the guest runs on
// the destination on memory it fetches from the source, so the move cannot be undone: it must not be
// recorded failed while QEMU can still finish it. Once the link is back QEMU completes the copy; the
// move is recorded succeeded, the guest runs (ticking) on the destination only, and the source keeps
// no definition of it that someone could start a second copy from. The post-copy phase's background
// copy keeps to the move's bandwidth cap (QEMU leaves it unlimited unless told), which is also what
// makes the phase last long enough here to be cut.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Connection, type Domain } from "@drover/libvirt";
import { ApiMigration } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { dirtyRateReported, hosts, waitMigrationDone, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";
import { agentLogLines, commandReceipts, eachGuestOnOneHostTicking } from "./helpers/faults.js";

/** Low, so the post-copy phase (the guest's pages not yet sent, up to its 32 MiB working set) lasts seconds. */
const CAP_MIBS = 2;
/** libvirt's virDomainPausedReason: the source in post-copy, and after the post-copy failed. */
const PAUSED_POSTCOPY = 12;
const PAUSED_POSTCOPY_FAILED = 13;

let d: DroverLab;
let source: Connection | undefined;

beforeAll(async () => {
  d = await DroverLab.start({
    net: 44,
    hosts: 2,
    network: "netns",
    guests: [
      // Writes that change the bytes, so QEMU's dirty-rate sampling sees them (migration-strategies.lab.test.ts).
      { name: "pc1", host: "h1", memoryMiB: 96, tags: ["drover:post-copy"], workload: { dirtyMb: 32, dirtyRate: "max", changing: true } },
    ],
    agent: { dirtyRate: { everyMs: 5000 } },
    scheduler: {
      policies: { balance: { mode: "off" }, consolidate: { mode: "off" } },
      migration: { bandwidthMiBs: CAP_MIBS, allowPostCopy: true, escalation: [], timeoutMs: 300_000 },
      planner: { migration: { allowAutoConverge: false, allowPauseAndCopy: true } },
    },
  });
  await waitReady(d.api, 2, ["pc1"]);
}, 300_000);

afterEach(async () => {
  await d?.lab.healLink("h1", "h2").catch(() => undefined);
});

afterAll(async () => {
  await source?.close().catch(() => undefined);
  await d?.stop();
});

/** pc1's domain on h1 (null once gone), and its state and reason as libvirt gives them. */
async function onSource<T>(f: (dom: Domain) => Promise<T>): Promise<T | null> {
  source ??= await Connection.open(d.lab.host("h1").uri);
  const dom = await source.lookupDomain("pc1").catch(() => null);
  if (!dom) return null;
  try {
    return await f(dom);
  } finally {
    dom.free();
  }
}
const sourceState = () => onSource((dom) => dom.info()).then((i) => (i ? `${i.state}/${i.reason}` : "none"));

describe("link cut during a move's post-copy phase, restored after libvirt declared the post-copy failed", () => {
  it("records the move succeeded once QEMU completes it; the guest runs on h2 only; h1 keeps no definition of it", async () => {
    await dirtyRateReported(d, { host: "h1", vm: "pc1" }, "over", CAP_MIBS);
    const m = await call(d.api, "POST", "/v1/migrations", ApiMigration, { vm: "pc1", host: "h2" });
    await vi.waitFor(
      async () => {
        const st = await sourceState();
        if (st !== `paused/${PAUSED_POSTCOPY}`) throw new Error(`waiting for pc1's post-copy phase on h1: ${st}`);
      },
      { timeout: 240_000, interval: 50 },
    );
    // The background copy keeps to the move's cap.
    expect(await onSource((dom) => dom.maxSpeedMiBs({ postcopy: true }))).toBe(CAP_MIBS);
    await d.lab.cutLink("h1", "h2");
    expect(await sourceState(), "still in post-copy when cut").toBe(`paused/${PAUSED_POSTCOPY}`);

    // libvirt's keepalive gives up on the peer: the migration call fails, the source waits paused.
    await vi.waitFor(
      async () => {
        const st = await sourceState();
        if (st !== `paused/${PAUSED_POSTCOPY_FAILED}`) throw new Error(`waiting for libvirt to declare the post-copy failed: ${st}`);
      },
      { timeout: 120_000, interval: 500 },
    );
    // Past the failure the agent follows the move rather than ending it (a few seconds for the old
    // code's end to reach the scheduler).
    await new Promise((r) => setTimeout(r, 10_000));
    const during = await call(d.api, "GET", `/v1/migrations/${m.id}`, ApiMigration);
    expect(during.state, JSON.stringify(during)).toBe("running");
    expect((await hosts(d.api)).map((h) => [h.id, h.state])).toEqual([
      ["h1", "healthy"],
      ["h2", "healthy"],
    ]);

    await d.lab.healLink("h1", "h2");
    const done = await waitMigrationDone(d.api, m.id, 240_000);
    console.log(`post-copy cut: ${done.state} after ${done.measuredDurationMs} ms, completed by ${done.completedBy}`);
    expect(done.state, JSON.stringify(done)).toBe("succeeded");
    expect(done.vmRunningOn).toBe("h2");
    expect(await agentLogLines(d, "h1", "post-copy broke mid-migration; following the move to its end")).toHaveLength(1);
    expect(Object.fromEntries(await eachGuestOnOneHostTicking(d, ["pc1"]))).toEqual({ pc1: "h2" });
    // No shut-off definition left on h1 to start a second copy from (libvirt's own last step,
    // which undefines the source, did not run: its job had failed).
    expect(await d.lab.host("h1").definedGuests()).not.toContain("pc1");
    expect(await d.lab.host("h2").definedGuests()).toContain("pc1");
    expect(await commandReceipts(d, done.commandId)).toEqual({ h1: 1 });
  }, 600_000);
});
