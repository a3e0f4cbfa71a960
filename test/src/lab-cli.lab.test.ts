// `drover lab up | status | restart | down` as an operator runs them: the lab keeps running after
// the command returns (a detached keeper), the agents and the scheduler it configured report, later
// commands find the API through the lab dir, a part restarted from another process comes back and
// is reported again, `lab down` leaves no process behind, and a host left in maintenance does not
// keep the next `up` waiting.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { HostsResponse } from "@drover/protocol";
import { labDown, labStatus } from "@drover/lab";
import { drover } from "./helpers/api.js";

let dir: string | undefined;

afterAll(async () => {
  if (!dir) return;
  await labDown(join(dir, "lab")).catch(() => undefined);
  if (!process.env["DROVER_KEEP_LAB"]) await rm(dir, { recursive: true, force: true });
});

describe("drover lab", () => {
  it("up starts agents and a scheduler that report, status shows them, down stops everything", async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-e2e-35-"));
    const stateDir = join(dir, "lab");
    const env = { DROVER_LAB_DIR: stateDir };
    const up = await drover(null, ["lab", "up", "--hosts", "3", "--guests", "1", "--net", "35", "--json"], 300_000, env);
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    const info = JSON.parse(up.stdout) as { api: string; running: boolean; hosts: { agent: { running: boolean } | null }[] };
    expect(info.running).toBe(true);
    expect(info.api).toBe("http://127.0.0.1:7104");
    expect(info.hosts.map((h) => h.agent?.running)).toEqual([true, true, true]);

    // No --api: the CLI reads the lab's drover-api.json.
    const hs = await drover(null, ["hosts", "--json"], 60_000, env);
    expect(hs.code, hs.stderr).toBe(0);
    const hosts = HostsResponse.parse(JSON.parse(hs.stdout)).hosts;
    expect(hosts.map((h) => [h.id, h.state])).toEqual([
      ["h1", "healthy"],
      ["h2", "healthy"],
      ["h3", "healthy"],
    ]);

    // A second `up` on the running lab, of another shape, is refused before it writes anything: the
    // running lab's configs (which `lab restart` starts its parts with) and token stay as they are.
    const files = ["configs/agent-h1.yaml", "configs/scheduler.yaml", "drover-api-token", "drover-api.json"];
    const written = await Promise.all(files.map((f) => readFile(join(stateDir, f), "utf8")));
    const again = await drover(null, ["lab", "up", "--hosts", "1", "--guests", "0", "--api-port", "7999"], 120_000, env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`a lab already runs in ${stateDir}`);
    expect(await Promise.all(files.map((f) => readFile(join(stateDir, f), "utf8")))).toEqual(written);

    const st = await drover(null, ["lab", "status"], 60_000, env);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/vm1/);

    // Restarted from this process (not the keeper's): NATS, then h1's agent; both come back, and
    // every agent reports through the new NATS.
    const before = await labStatus(stateDir);
    const restartedAt = Date.now();
    for (const part of [["nats"], ["agent", "h1"]]) {
      const r = await drover(null, ["lab", "restart", ...part], 120_000, env);
      expect(r.code, `drover lab restart ${part.join(" ")}: ${r.stderr}`).toBe(0);
    }
    const restarted = await labStatus(stateDir);
    expect(restarted.nats?.running).toBe(true);
    expect(restarted.nats?.pid).not.toBe(before.nats?.pid);
    expect(restarted.hosts[0]?.agent?.running).toBe(true);
    expect(restarted.hosts[0]?.agent?.pid).not.toBe(before.hosts[0]?.agent?.pid);
    expect(restarted.hosts[1]?.agent?.pid).toBe(before.hosts[1]?.agent?.pid);
    await vi.waitFor(
      async () => {
        const r = await drover(null, ["hosts", "--json"], 60_000, env);
        const fresh = HostsResponse.parse(JSON.parse(r.stdout)).hosts.filter(
          (h) => h.state === "healthy" && (h.lastReportMs ?? 0) > restartedAt,
        );
        if (fresh.length < 3) throw new Error(`waiting for every host to report after the restarts: ${r.stdout}`);
      },
      { timeout: 120_000, interval: 2000 },
    );

    // Left in maintenance: the scheduler's store outlives the lab, so the next `up` finds h2 there.
    const drain = await drover(null, ["drain", "h2", "--wait"], 120_000, env);
    expect(drain.code, drain.stderr).toBe(0);

    const down = await drover(null, ["lab", "down"], 300_000, env);
    expect(down.code, down.stderr).toBe(0);
    const after = await labStatus(stateDir);
    expect(after.running).toBe(false);
    expect(after.scheduler?.running ?? false).toBe(false);
    expect(after.hosts.every((h) => !h.libvirtd.running && !(h.agent?.running ?? false) && h.guests.length === 0)).toBe(true);
    // A part of the stopped lab is not started on its own (nothing would stop it with the lab).
    const orphan = await drover(null, ["lab", "restart", "scheduler"], 120_000, env);
    expect(orphan.code).not.toBe(0);
    expect(orphan.stderr).toContain(`the lab in ${stateDir} is stopped, not running`);
    expect((await labStatus(stateDir)).scheduler?.running ?? false).toBe(false);

    // Up again with two hosts: h2 reports but stays in maintenance (`up` waits for it to be heard,
    // not healthy), and h3 is only in the store; `up` says how to deal with each.
    const second = await drover(null, ["lab", "up", "--hosts", "2", "--guests", "1", "--net", "35"], 300_000, env);
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stderr).toContain("h2 is in maintenance, as an earlier run of this lab left it");
    expect(second.stderr).toContain("drover undrain h2");
    expect(second.stderr).toMatch(/h3 is known as an earlier run of this lab left it .*: drover host forget h3/);
    expect(second.stderr).not.toMatch(/h1 is/);
    const forget = await drover(null, ["host", "forget", "h3"], 60_000, env);
    expect(forget.code, forget.stderr).toBe(0);
    expect((await drover(null, ["lab", "down"], 300_000, env)).code).toBe(0);
  });
});
