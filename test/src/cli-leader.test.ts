// `drover` with several schedulers: a change sent to a follower goes to the leader the follower
// names (and the CLI says which scheduler took it); a read goes to the first scheduler that answers.
// Two real schedulers in this process on a real three-node nats-server cluster, the CLI as a process.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsCluster, freePort } from "@drover/bus/testing";
import { ModesResponse, StatusResponse } from "@drover/protocol";
import { TokenBook } from "../../scheduler/src/api/tokens.js";
import { tempDir } from "../../scheduler/test/helpers.js";
import { LEASE_TTL_MS, leaderCandidate } from "../../scheduler/test/leader-candidate.js";
import { REFUSED_API, drover } from "./helpers/api.js";

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});

describe("drover with several schedulers", () => {
  it(
    "sends a change given to a follower to the leader it names, says so, and reads from the first scheduler that answers",
    { timeout: 300_000 },
    async () => {
      await using dirA = await tempDir();
      await using dirB = await tempDir();
      // A leader advertises its configured port (port 0 gives no API URL), so each port is taken just
      // before its scheduler binds it, not seconds earlier where another test's listen(0) could get it.
      const http = (port: number) => ({ over: { http: { host: "127.0.0.1", port } } });
      const portA = await freePort();
      const a = await leaderCandidate(cluster.urls, "sched-a", dirA.path, http(portA));
      let b: Awaited<ReturnType<typeof leaderCandidate>> | undefined;
      try {
        await expect.poll(() => a.s.leadership.mayAct(), { timeout: 10_000 }).toBe(true);
        const portB = await freePort();
        b = await leaderCandidate(cluster.urls, "sched-b", dirB.path, http(portB));
        const follower = b;
        await expect.poll(() => follower.s.leadership.status().leader?.id, { timeout: 10_000 }).toBe("sched-a");
        // One token, good on both: made on a, registered on b.
        const token = new TokenBook(a.s.store, Date.now).create("ops", "operator", "test").token;
        new TokenBook(follower.s.store, Date.now).create("ops", "operator", "test", { secret: token });
        const env = { DROVER_TOKEN: token };
        const [urlA, urlB] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];

        const [viaFollower, read] = await Promise.all([
          drover(urlB, ["mode", "balance", "recommend", "--json"], 120_000, env),
          drover(`${REFUSED_API},${urlB}`, ["status", "--json"], 120_000, env),
        ]);
        expect(viaFollower.code, viaFollower.stderr).toBe(0);
        expect(viaFollower.stderr).toContain(`drover: sent to the leading scheduler at ${urlA}`);
        expect(ModesResponse.parse(JSON.parse(viaFollower.stdout)).modes.balance).toBe("recommend");
        expect(a.s.modes.modes.balance).toBe("recommend");
        expect(follower.s.modes.modes.balance).toBe("off");
        expect(read.code, read.stderr).toBe(0);
        expect(StatusResponse.parse(JSON.parse(read.stdout)).control?.leadership.self).toBe("sched-b");

        // The leader loses NATS: b leads, and a (its API still up, following now) names b.
        await a.s.bus.close();
        await expect.poll(() => follower.s.leadership.mayAct(), { timeout: 4 * LEASE_TTL_MS }).toBe(true);
        await expect.poll(() => a.s.leadership.status().leader?.id ?? null, { timeout: 4 * LEASE_TTL_MS }).not.toBe("sched-a");
        const [viaOld, nowhere] = await Promise.all([
          drover(`${urlA},${urlB}`, ["mode", "balance", "automatic", "--json"], 120_000, env),
          drover(REFUSED_API, ["mode", "balance", "off"], 120_000, env),
        ]);
        expect(viaOld.code, viaOld.stderr).toBe(0);
        expect(viaOld.stderr).toContain(`drover: sent to the leading scheduler at ${urlB}`);
        expect(follower.s.modes.modes.balance).toBe("automatic");
        expect(nowhere.code).toBe(4);
      } finally {
        await b?.s.shutdown();
        await a.s.shutdown();
      }
    },
  );
});
