// What `drover lab up` writes before it starts anything, for a lab of several schedulers: one admin
// token good on every scheduler's store, and every scheduler's API where the CLI finds the lab, so a
// read goes to the first that answers and a change to whichever leads (as on a real cluster).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Store } from "@drover/store";
import { labApiUrl, writeLabCluster } from "../../cli/src/lab-setup.js";
import { TokenBook } from "../../scheduler/src/api/tokens.js";

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a lab of two schedulers, as written", () => {
  it("has one token that both schedulers' stores accept, and lists both APIs for the CLI", { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-lab-setup-"));
    const stateDir = join(dir, "lab");
    const cluster = await writeLabCluster({ hosts: 1, net: 61, stateDir, natsNodes: 3, schedulers: 2 });
    const urls = ["http://127.0.0.1:7130", "http://127.0.0.1:8130"];
    expect(cluster.apis.map((a) => a.url)).toEqual(urls);
    expect(labApiUrl(stateDir)).toBe(urls.join(","));

    const token = (await readFile(join(stateDir, "drover-api-token"), "utf8")).trim();
    expect(cluster.apis.map((a) => a.token)).toEqual([token, token]);
    for (const k of ["scheduler", "scheduler-2"]) {
      using store = Store.open({ path: join(stateDir, k, "drover.sqlite") });
      expect(new TokenBook(store, Date.now).authenticate(`Bearer ${token}`).role, k).toBe("admin");
    }
  });

  it(
    "written again on the same state dir: the new token is good, the earlier lab token revoked, an operator's kept",
    { timeout: 120_000 },
    async () => {
      const stateDir = join(dir!, "lab");
      const before = (await readFile(join(stateDir, "drover-api-token"), "utf8")).trim();
      let operators = "";
      {
        using store = Store.open({ path: join(stateDir, "scheduler", "drover.sqlite") });
        operators = new TokenBook(store, Date.now).create("ops", "viewer", "test").token;
      }
      await writeLabCluster({ hosts: 1, net: 61, stateDir, natsNodes: 3, schedulers: 2 });
      const token = (await readFile(join(stateDir, "drover-api-token"), "utf8")).trim();
      expect(token).not.toBe(before);
      for (const k of ["scheduler", "scheduler-2"]) {
        using store = Store.open({ path: join(stateDir, k, "drover.sqlite") });
        const book = new TokenBook(store, Date.now);
        expect(book.authenticate(`Bearer ${token}`).role, k).toBe("admin");
        expect(() => book.authenticate(`Bearer ${before}`), k).toThrow(/revoked/);
        const active = book.list().filter((t) => t.revokedAtMs === null);
        expect(
          active.filter((t) => t.name.startsWith("lab-")),
          k,
        ).toHaveLength(1);
        expect(
          active.some((t) => t.name === "ops"),
          k,
        ).toBe(k === "scheduler");
      }
      {
        using store = Store.open({ path: join(stateDir, "scheduler", "drover.sqlite") });
        expect(new TokenBook(store, Date.now).authenticate(`Bearer ${operators}`).role).toBe("viewer");
      }
    },
  );
});
