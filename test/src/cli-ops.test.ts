// `drover mode`, `drover plan reject` and `drover history` filters, as processes, against a real
// scheduler (in this process, on a real nats-server and SQLite file) with an operator token.
import { describe, expect, it } from "vitest";
import { ApiPlan, HistoryResponse, ModesResponse } from "@drover/protocol";
import { TokenBook } from "../../scheduler/src/api/tokens.js";
import { harness, json, post } from "../../scheduler/test/harness.js";
import { uuid } from "../../scheduler/test/helpers.js";
import { drover } from "./helpers/api.js";

describe("drover mode, plan reject, history filters", () => {
  it("changes a mode and rejects a plan as the operator's token, and finds both with history filters", { timeout: 300_000 }, async () => {
    await using h = await harness(["a", "b"], { a: [{ uuid: uuid(1), name: "web1" }] });
    await h.report();
    const api = h.s.api.address;
    const env = { DROVER_TOKEN: new TokenBook(h.s.store, () => h.clock.now()).create("ops", "operator", "test").token };

    const mode = await drover(api, ["mode", "balance", "automatic", "--json"], 120_000, env);
    expect(mode.code, mode.stderr).toBe(0);
    expect(ModesResponse.parse(JSON.parse(mode.stdout)).modes.balance).toBe("automatic");

    const plan = ApiPlan.parse(await json(await post(h.url("/v1/plan"), { kind: "drain", host: "a" })));
    const [rejected, missing] = await Promise.all([
      drover(api, ["plan", "reject", plan.id], 120_000, env),
      drover(api, ["plan", "reject", "no-such-plan"], 120_000, env),
    ]);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toContain(`Plan ${plan.id}: drain a (policy drain), rejected`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no plan "no-such-plan"');

    const [config, plans, since] = await Promise.all([
      drover(api, ["history", "--kind", "config", "--json"], 120_000, env),
      drover(api, ["history", "--host", "a", "--vm", "web1", "--json"], 120_000, env),
      drover(api, ["history", "--since", "2099-01-01T00:00:00Z", "--json"], 120_000, env),
    ]);
    const byKey = HistoryResponse.parse(JSON.parse(config.stdout)).entries.filter((e) => e.summary.startsWith("config modes."));
    expect(byKey.map((e) => e.requestedBy)).toEqual(["api:ops"]);
    const mine = HistoryResponse.parse(JSON.parse(plans.stdout)).entries;
    expect(mine.map((e) => [e.kind, e.id])).toEqual([["plan", plan.id]]);
    expect(mine[0]!.summary).toContain("rejected by api:ops");
    expect(HistoryResponse.parse(JSON.parse(since.stdout)).entries).toEqual([]);
  });
});
