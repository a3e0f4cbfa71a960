// The CLI's own handling of bad input, without a cluster: usage errors exit 2 naming what is
// wrong; an unreachable API exits 4 and says where it looked.
import { describe, expect, it } from "vitest";
import { REFUSED_API, drover } from "./helpers/api.js";

describe("drover CLI without a scheduler", () => {
  // Generous timeouts: each case starts Node and tsx, slow while lab tests load the 2 cores.
  it("names an unreachable API and exits 4", { timeout: 120_000 }, async () => {
    const api = REFUSED_API;
    const r = await drover(api, ["hosts"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`cannot reach the scheduler at ${api}`);
    expect(r.stdout).toBe("");
  });

  it("refuses bad arguments with exit 2 before calling anything", { timeout: 300_000 }, async () => {
    const api = REFUSED_API;
    const cases: { args: string[]; text: RegExp }[] = [
      { args: ["plan", "shuffle"], text: /unknown plan kind "shuffle"/ },
      { args: ["plan", "balance", "h1"], text: /takes no further argument/ },
      { args: ["power", "sideways", "h1"], text: /off or on/ },
      { args: ["history", "--limit", "0"], text: /--limit must be an integer 1..1000/ },
      { args: ["history", "--kind", "gossip"], text: /--kind must be one of/ },
      { args: ["history", "--since", "yesterday"], text: /--since "yesterday" is neither an ISO time .* nor a duration/ },
      { args: ["history", "--host", "h 1"], text: /--host "h 1" is not a host id/ },
      // Options of `history load` that `history` has too reach `load`.
      { args: ["history", "load", "--host", "h1", "--vm", "web1"], text: /give --host or --vm, not both/ },
      { args: ["history", "load", "--json", "--csv"], text: /give --json or --csv, not both/ },
      { args: ["history", "load", "--since", "yesterday"], text: /--since "yesterday" is neither an ISO time .* nor a duration/ },
      { args: ["frobnicate"], text: /unknown command 'frobnicate'/ },
      { args: ["mode", "power", "off"], text: /mode takes a policy \(balance, consolidate, drain\), not "power"/ },
      {
        args: ["schedule", "balance", "--start", "01:00", "--end", "02:00"],
        text: /schedule takes a policy \(consolidate\), not "balance"/,
      },
      { args: ["schedule", "consolidate", "--start", "25:00", "--end", "02:00"], text: /--start: must be HH:MM/ },
      { args: ["schedule", "consolidate", "--start", "01:00"], text: /required option '--end <HH:MM>' not specified/ },
      {
        args: ["schedule", "consolidate", "--start", "01:00", "--end", "02:00", "--restore-margin", "5m"],
        text: /--restore-margin must be whole minutes, not "5m"/,
      },
      { args: ["mode", "balance", "sometimes"], text: /mode must be one of off, recommend, automatic/ },
      { args: ["plan", "reject"], text: /plan reject needs the plan ID/ },
      { args: ["lab", "up", "--hosts", "99"], text: /--hosts must be an integer 1..16/ },
      { args: ["drain"], text: /missing required argument 'host'/ },
      { args: ["lab", "restart", "dns"], text: /part must be one of scheduler, nats, agent, libvirtd/ },
      { args: ["lab", "restart", "agent"], text: /needs a host/ },
    ];
    // In parallel: each run starts Node and tsx, slow on a loaded 2-core machine.
    const results = await Promise.all(cases.map((c) => drover(api, c.args)));
    cases.forEach((c, i) => {
      const r = results[i]!;
      expect(r.code, `drover ${c.args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(c.text);
    });
    const bad = await drover("not a url", ["hosts"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a URL");
  });

  it("prints help and exits 0", { timeout: 120_000 }, async () => {
    const r = await drover(null, ["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["status", "hosts", "vms", "plan", "migrate", "drain", "undrain", "power", "history", "lab", "demo"])
      expect(r.stdout).toContain(c);
  });
});
