// Rules where operators already edit them: a pin set with `virsh metadata` on a running guest reaches
// the scheduler through the agent's metadata-change event (well before the agent's 5-minute XML
// refresh), and the next plan leaves the guest alone with that reason; removed, the guest is movable
// again. Bad metadata is named in `drover vms`, and the rest of the guest's report goes on.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiPlan } from "@drover/protocol";
import { call, drover } from "./helpers/api.js";
import { vms, waitReady } from "./helpers/cluster.js";
import { DroverLab } from "./helpers/drover-lab.js";

const NS = "https://drover.dev/ns/1";
/** Far below the agent's 5-minute refresh of a domain's XML: only the event brings a change this soon. */
const NOTICED_WITHIN_MS = 30_000;

let d: DroverLab;

/** `virsh metadata vm1 --uri NS --key drover …` against vm1's host, as an operator would type it. */
async function virshMetadata(...args: string[]): Promise<void> {
  const uri = d.lab.host("h1").uri;
  await promisify(execFile)("virsh", ["-c", uri, "metadata", "vm1", "--uri", NS, "--key", "drover", ...args], { timeout: 30_000 });
}

async function vm1() {
  const v = (await vms(d.api)).find((x) => x.name === "vm1");
  if (!v) throw new Error("vm1 is not in /v1/vms");
  return v;
}

/** A dry-run drain of h1: vm1's move, or why it is not moved. */
async function drainPlanForVm1(): Promise<{ step: boolean; notMoved: string | null }> {
  const plan = await call(d.api, "POST", "/v1/plan", ApiPlan, { kind: "drain", host: "h1" });
  const nm = plan.notMoved.find((n) => n.vm === "vm1");
  return {
    step: plan.steps.some((s) => s.kind === "migrate" && s.vm === "vm1"),
    notMoved: nm ? `${nm.code}: ${nm.reason}` : null,
  };
}

beforeAll(async () => {
  d = await DroverLab.start({
    net: 53,
    hosts: 2,
    guests: [{ name: "vm1", host: "h1" }],
    scheduler: { policies: { balance: { mode: "off" }, consolidate: { mode: "off" } } },
  });
  await waitReady(d.api, 2, ["vm1"]);
});

afterAll(async () => {
  await d?.stop();
});

describe("rules in libvirt metadata", () => {
  it("a pin set with virsh metadata keeps the next plan off the guest, with that reason; removed, the guest moves again", async () => {
    expect(await drainPlanForVm1()).toEqual({ step: true, notMoved: null });

    await virshMetadata("--set", '<rules pinned="yes"/>');
    await expect
      .poll(async () => (await vm1()).rules, { timeout: NOTICED_WITHIN_MS, interval: 250, message: "the pin in vm1's report" })
      .toContainEqual({ what: "pinned", from: "metadata", rule: null });
    const pinned = await drainPlanForVm1();
    expect(pinned.step).toBe(false);
    expect(pinned.notMoved).toMatch(/pinned/);
    const shown = await drover(d.api, ["vms"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/vm1 .*pinned \(metadata\)/);

    await virshMetadata("--remove");
    await expect
      .poll(async () => (await vm1()).rules, { timeout: NOTICED_WITHIN_MS, interval: 250, message: "the pin gone from vm1's report" })
      .toEqual([]);
    expect(await drainPlanForVm1()).toEqual({ step: true, notMoved: null });
  });

  it("names bad metadata in drover vms and keeps reporting the guest", async () => {
    await virshMetadata("--set", '<rules pinned="maybe"><affinity/></rules>');
    await expect
      .poll(async () => (await vm1()).ruleProblems, { timeout: NOTICED_WITHIN_MS, interval: 250, message: "the problem in vm1's report" })
      .toEqual([expect.stringMatching(/^<drover:rules> ignored: pinned: .*groups\.0\.group: /)]);
    const v = await vm1();
    expect(v.state).toBe("running");
    expect(v.rules).toEqual([]);
    const shown = await drover(d.api, ["vms"]);
    expect(shown.stdout).toContain("vm1: <drover:rules> ignored: pinned:");
    await virshMetadata("--remove");
    await expect.poll(async () => (await vm1()).ruleProblems, { timeout: NOTICED_WITHIN_MS, interval: 250 }).toEqual([]);
  });
});
