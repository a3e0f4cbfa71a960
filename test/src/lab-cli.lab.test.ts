// `drover lab up | status | down` as an operator runs them: the lab keeps running after the command
// returns (a detached keeper), the agents and the scheduler it configured report, later commands
// find the API through the lab dir, and `lab down` leaves no process behind.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
    const up = await drover(null, ["lab", "up", "--hosts", "2", "--guests", "1", "--net", "35", "--json"], 300_000, env);
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    const info = JSON.parse(up.stdout) as { api: string; running: boolean; hosts: { agent: { running: boolean } | null }[] };
    expect(info.running).toBe(true);
    expect(info.api).toBe("http://127.0.0.1:7104");
    expect(info.hosts.map((h) => h.agent?.running)).toEqual([true, true]);

    // No --api: the CLI reads the lab's drover-api.json.
    const hs = await drover(null, ["hosts", "--json"], 60_000, env);
    expect(hs.code, hs.stderr).toBe(0);
    const hosts = HostsResponse.parse(JSON.parse(hs.stdout)).hosts;
    expect(hosts.map((h) => [h.id, h.state])).toEqual([
      ["h1", "healthy"],
      ["h2", "healthy"],
    ]);

    const st = await drover(null, ["lab", "status"], 60_000, env);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/vm1/);

    const down = await drover(null, ["lab", "down"], 300_000, env);
    expect(down.code, down.stderr).toBe(0);
    const after = await labStatus(stateDir);
    expect(after.running).toBe(false);
    expect(after.scheduler?.running ?? false).toBe(false);
    expect(after.hosts.every((h) => !h.libvirtd.running && !(h.agent?.running ?? false) && h.guests.length === 0)).toBe(true);
  });
});
