// The restarted agent's recovery of a move whose end it did not see, on libvirt's answers as the
// agent's Hypervisor seam gives them (the lab cases in test/src/faults-*.lab.test.ts drive the real
// thing; the cases here need a move's whole timeout to pass, minutes on the lab).
import { describe, expect, it } from "vitest";
import { silentLogger, type VmState } from "@drover/protocol";
import type { MigrationRecord } from "../src/command-table.js";
import type { HvConnection, HvDomain, Hypervisor, JobStats } from "../src/hypervisor.js";
import type { LeftoverImages } from "../src/leftover-images.js";
import type { LibvirtLink } from "../src/libvirt-link.js";
import { RecoveredMigration } from "../src/recovery.js";

const UUID = "00000000-0000-4000-8000-000000000001";
const DEST = { host: "h2", uri: "qemu+tcp://127.0.0.1/system" };

/** One host's copy of the guest, as libvirt answers for it; what the recovery did to it is counted. */
class FakeDomain {
  readonly uuid = UUID;
  readonly name = "pc1";
  resumed = 0;
  aborted = 0;
  constructor(
    public st: VmState,
    public postCopyPause: boolean,
    public job: JobStats | null,
  ) {}
  state = () => Promise.resolve(this.st);
  pausedForPostCopy = () => Promise.resolve(this.st === "paused" && this.postCopyPause);
  jobStats = () => Promise.resolve(this.job);
  abortJob = () => {
    this.aborted++;
    return Promise.reject(new Error("Requested operation is not valid: post-copy migration cannot be aborted"));
  };
  resume = () => {
    this.resumed++;
    this.st = "running";
    return Promise.resolve();
  };
  undefine = () => Promise.resolve();
  free = () => undefined;
}

const connectionTo = (dom: FakeDomain | null) =>
  ({
    uri: "x",
    lookup: () => Promise.resolve(dom as unknown as HvDomain | null),
    close: () => Promise.resolve(),
  }) as unknown as HvConnection;

const failedJob: JobStats = {
  type: "failed",
  elapsedMs: null,
  dataTotal: 0,
  dataProcessed: 0,
  dataRemaining: 0,
  memoryIteration: 0,
  memDirtyRateBps: null,
  memBps: null,
  expectedDowntimeMs: null,
  downtimeMs: null,
  autoConvergeThrottle: null,
  memoryPostcopyRequests: null,
};

function recovery(here: FakeDomain, there: FakeDomain | null, record: Partial<MigrationRecord>) {
  const discarded: string[][] = [];
  const m: MigrationRecord = {
    migrationId: "m1",
    vm: "pc1",
    vmUuid: UUID,
    destination: DEST,
    startedAtMs: Date.now(),
    timeoutMs: 60_000,
    undefineOnSource: true,
    guestRunning: true,
    images: [],
    ...record,
  };
  const r = new RecoveredMigration("c1", m, {
    hv: { open: () => Promise.resolve(connectionTo(there)) } as unknown as Hypervisor,
    link: { connection: connectionTo(here) } as unknown as LibvirtLink,
    host: "h1",
    log: silentLogger,
    callTimeoutMs: 1000,
    progress: () => undefined,
    pollMs: 5,
    leftovers: {
      discard: (_d: unknown, _vm: unknown, paths: readonly string[]) => (discarded.push([...paths]), Promise.resolve()),
    } as unknown as LeftoverImages,
  });
  return { r, discarded };
}

describe("a restarted agent's recovery of a broken post-copy", () => {
  it("past the move's timeout, ends it post-copy-broken naming the resume; never aborts, never resumes the source's copy", async () => {
    // The source paused for post-copy (libvirt's reason), its job failed; the destination holds the guest, paused.
    const here = new FakeDomain("paused", true, failedJob);
    const there = new FakeDomain("paused", false, null);
    const { r, discarded } = recovery(here, there, { startedAtMs: Date.now() - 61_000 });
    const res = await r.run();
    expect(res).toMatchObject({ outcome: "failed", vmRunningOn: null, completedBy: null, escalations: ["recovered-after-agent-restart"] });
    expect(res.error?.code).toBe("post-copy-broken");
    expect(res.error?.message).toMatch(
      /split between h1 and h2 .* virsh migrate --postcopy --postcopy-resume .* qemu\+tcp:\/\/127\.0\.0\.1\/system/,
    );
    expect([here.resumed, here.aborted]).toEqual([0, 0]);
    expect(here.st).toBe("paused");
    expect(discarded).toEqual([[]]);
  });

  it("within its timeout, follows it while the source serves the guest's memory, and records it succeeded by post-copy once it completes", async () => {
    const here = new FakeDomain("paused", true, failedJob);
    const there = new FakeDomain("paused", false, null);
    const { r } = recovery(here, there, {});
    const ended = r.run();
    let done = false;
    void ended.then(() => (done = true));
    await new Promise((res) => setTimeout(res, 100));
    expect(done).toBe(false);
    // The link is back: QEMU completes the copy, the source's copy stops, the destination runs it.
    here.st = "shut-off";
    there.st = "running";
    const res = await ended;
    expect(res).toMatchObject({ outcome: "succeeded", vmRunningOn: "h2", completedBy: "post-copy", error: null });
    expect(here.resumed).toBe(0);
  });
});
