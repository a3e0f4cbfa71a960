// The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against a real
// lab: an operator opens the page with a token, sees the hosts and their guests, drains a host from
// the page and watches the drain reach maintenance while the guest moves live, then rejects a
// proposed plan from the page; a viewer sees the same page without the actions. Screenshots go to
// the directory printed at the start.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiMaintenance, ApiPlan, HostsResponse, TokenCreated } from "@drover/protocol";
import { call } from "./helpers/api.js";
import { waitReady } from "./helpers/cluster.js";
import { DroverLab, REPO_ROOT } from "./helpers/drover-lab.js";

const CHROMIUM = process.env["DROVER_CHROMIUM"] ?? "/usr/bin/chromium";
const ARTIFACTS = join(REPO_ROOT, "test", "artifacts", "dashboard");
/** A drain moves a guest live on a loaded 2-core machine: generous, the test waits for the page to say it is done. */
const DRAIN_MS = 180_000;

let d: DroverLab;
let browser: Browser;
const tokens = { operator: "", viewer: "" };

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  console.log(`dashboard screenshots: ${ARTIFACTS}`);
  d = await DroverLab.start({
    net: 57,
    hosts: 2,
    guests: [
      { name: "vm1", host: "h1", memoryMiB: 96 },
      { name: "vm2", host: "h2", memoryMiB: 96 },
    ],
    scheduler: { policies: { balance: { mode: "off" } } },
  });
  await waitReady(d.api, 2, ["vm1", "vm2"]);
  for (const role of ["operator", "viewer"] as const)
    tokens[role] = (await call(d.api, "POST", "/v1/tokens", TokenCreated, { name: `dash-${role}`, role })).token;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      // Root in a container: Chromium's sandbox needs user namespaces it may not get.
      "--no-sandbox",
      // Loopback only: anything else goes to a proxy that does not exist, and no name is resolved.
      "--proxy-server=http://127.0.0.1:9",
      "--proxy-bypass-list=127.0.0.0/8",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await d?.stop();
});

async function openAs(role: keyof typeof tokens): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${d.api}/`);
  await page.locator("#token").fill(tokens[role]);
  await page.locator("#login button[type=submit]").click();
  await page.locator("#connection[data-state=live]").waitFor();
  await expect.poll(() => page.locator("#caller").textContent()).toBe(`dash-${role} (${role})`);
  return page;
}

/**
 * Pressed before a redraw (one a second) and released after it: a button is the same element across
 * redraws, so the click still lands (a new element under the pointer would lose it).
 */
async function clickAcrossRedraw(page: Page, selector: string): Promise<void> {
  const box = (await page.locator(selector).boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const drawnAt = await page.locator("body").getAttribute("data-updated");
  await page.mouse.down();
  await expect.poll(() => page.locator("body").getAttribute("data-updated")).not.toBe(drawnAt);
  await page.mouse.up();
}

describe("dashboard in Chromium", () => {
  it("lets an operator drain a host from the page and shows the drain reach maintenance as the guest moves", async () => {
    const page = await openAs("operator");
    await page.locator(".host[data-host=h1] .vm[data-vm=vm1]").waitFor();
    await page.locator(".host[data-host=h2] .vm[data-vm=vm2]").waitFor();
    await expect.poll(() => page.locator(".host[data-host=h1]").getAttribute("data-state")).toBe("healthy");
    // The token lives in the tab's sessionStorage, never in the address.
    expect(page.url()).toBe(`${d.api}/`);
    expect(await page.evaluate("sessionStorage.getItem('drover.token')")).toBe(tokens.operator);
    await page.screenshot({ path: join(ARTIFACTS, "1-hosts.png"), fullPage: true });

    await clickAcrossRedraw(page, "button[data-action=drain][data-host=h1]");
    const drain = page.locator(".drain[data-host=h1]");
    await drain.waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "2-draining.png"), fullPage: true });
    await page.locator(".drain[data-host=h1][data-state=in-maintenance]").waitFor({ timeout: DRAIN_MS });
    await page.locator(".host[data-host=h2] .vm[data-vm=vm1]").waitFor();
    await expect.poll(() => page.locator(".host[data-host=h1]").getAttribute("data-state")).toBe("maintenance");
    await expect.poll(() => page.locator("#recent tr[data-vm=vm1]").getAttribute("data-state")).toBe("succeeded");
    expect(await drain.textContent()).toContain("1 / 1 VMs");
    await page.screenshot({ path: join(ARTIFACTS, "3-drained.png"), fullPage: true });

    // The page acted with the operator's token (the API records who asked), and the guest really moved.
    const h1 = (await call(d.api, "GET", "/v1/hosts", HostsResponse)).hosts.find((h) => h.id === "h1");
    const m = await call(d.api, "GET", `/v1/maintenance/${h1?.maintenanceId}`, ApiMaintenance);
    expect([m.state, m.requestedBy]).toEqual(["in-maintenance", "api:dash-operator"]);
    expect(await d.hostOf("vm1")).toBe("h2");

    await page.locator("button[data-action=undrain][data-host=h1]").click();
    await expect.poll(() => page.locator(".host[data-host=h1]").getAttribute("data-state")).toBe("healthy");

    // A proposed plan shows each step's reason, and the operator rejects it from the page.
    const plan = await call(d.api, "POST", "/v1/plan", ApiPlan, { kind: "drain", host: "h2" });
    const card = page.locator(`.plan[data-plan="${plan.id}"]`);
    await expect.poll(() => card.getAttribute("data-status")).toBe("proposed");
    expect(await card.textContent()).toContain(plan.steps[0]!.reason);
    await page.screenshot({ path: join(ARTIFACTS, "4-plan.png"), fullPage: true });
    await clickAcrossRedraw(page, `.plan[data-plan="${plan.id}"] button[data-action=reject]`);
    await expect.poll(() => card.getAttribute("data-status")).toBe("rejected");
    expect((await call(d.api, "GET", `/v1/plans/${plan.id}`, ApiPlan)).decidedBy).toBe("api:dash-operator");
    await page.close();
  });

  it("shows a viewer the same cluster without the actions", async () => {
    const page = await openAs("viewer");
    await page.locator(".host[data-host=h2] .vm[data-vm=vm1]").waitFor();
    for (const host of ["h1", "h2"]) expect(await page.locator(`button[data-action=drain][data-host=${host}]`).isDisabled()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "5-viewer.png"), fullPage: true });
    await page.close();
  });
});
