// The morning restore (power/restore.ts) on a running scheduler: real nats-server, real SQLite file,
// fake agents, an injected clock and Wake-on-LAN to a UDP socket on loopback. With a seasonal forecast
// each host Drover powered off is woken as the forecast demand needs it, its measured wake p90 and the
// margin ahead, the rest just before the close; without one, all of them at the fixed offset. An
// operator's power-off is never woken.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LOAD_BUCKET_MS, type PowerRow } from "@drover/store";
import { harness, type Harness } from "./harness.js";
import { CLUSTER, udpListener, uuid } from "./helpers.js";

const DAY = 86_400_000;
const at = (hhmm: string, day = "2026-11-27") => Date.parse(`${day}T${hhmm}Z`);
const MARGIN_MS = 120_000;
/** Night demand (what the guests below use now) and the morning's, from 06:00 to 09:00 UTC. */
const NIGHT_MHZ = 4000;
const MORNING_MHZ = 30_000;

/** The cluster's demand by minute of the day: the night's, and `mhz` from 06:00 to 09:00 UTC. */
const morningAt6 = (mhz: number) => (minute: number) => (minute >= 6 * 60 && minute < 9 * 60 ? mhz : NIGHT_MHZ);

let udp: Awaited<ReturnType<typeof udpListener>>;
beforeEach(async () => {
  udp = await udpListener();
});
afterEach(() => udp.sock.close());

/**
 * Host a runs 20 one-vCPU guests (4000 MHz now, up to 40,000 MHz); b, c, d and e (8 x 2000 MHz each,
 * 12,800 MHz under the consolidation band's 0.8) are put in standby at 05:00: b, c, d by a plan, e by
 * an operator. Measured wakes: b 60 s, c 600 s, e 10 s (the fastest); d none (its timeout, 900 s).
 * With history: eight days of the cluster's demand as `demand` gives it.
 */
async function nightCluster(withHistory: boolean, demand: (minuteOfDay: number) => number = morningAt6(MORNING_MHZ)): Promise<Harness> {
  const wol = (n: number) => ({
    power: { wake: "wol" as const, mac: `02:00:00:00:00:0${n}`, address: "127.0.0.1", port: udp.port, wakeTimeoutMs: 900_000 },
  });
  const guests = Array.from({ length: 20 }, (_, i) => ({ uuid: uuid(i + 1), name: `g${i}`, cpu: 0.1 }));
  const h = await harness(
    ["a", "b", "c", "d", "e"],
    { a: guests },
    {
      policies: {
        balance: { mode: "off" },
        // Recommend: consolidation's own plans wait for approval, so every wake below is the restore's.
        consolidate: {
          mode: "recommend",
          window: { start: "22:00", end: "06:00", restoreBeforeEndMs: 30 * 60_000, restoreMarginMs: MARGIN_MS },
        },
        drain: { mode: "automatic" },
      },
      hosts: { a: wol(1), b: wol(2), c: wol(3), d: wol(4), e: wol(5) },
    },
  );
  const { store } = h.s;
  for (const [host, tookMs] of [
    ["b", 60_000],
    ["c", 600_000],
    ["e", 10_000],
  ] as const) {
    const t = at("12:00", "2026-11-20");
    store.power.record({ id: `w-${host}`, host, action: "wake", method: "wol", requestedBy: "test", reason: "test", atMs: t });
    h.s.power.wakeLatencies.ended(store.power.update(`w-${host}`, { status: "succeeded", atMs: t + tookMs }));
  }
  if (withHistory) {
    const rows = [];
    for (let t = at("05:00") - 8 * DAY; t < at("05:00"); t += LOAD_BUCKET_MS) {
      const d = new Date(t);
      rows.push({
        kind: "cluster" as const,
        id: CLUSTER,
        atMs: t,
        cpuMhz: demand(d.getUTCHours() * 60 + d.getUTCMinutes()),
        cpuMaxMhz: 0,
        memoryMiB: 0,
      });
    }
    store.load.append(rows);
    store.load.compact({ foldBeforeMs: at("05:00"), dropBeforeMs: 0, maxRows: 1_000_000 });
  }

  h.clock.set(at("05:00"));
  await h.report();
  for (const host of ["b", "c", "d"]) h.s.power.requestPowerOff(host, "plan:night", "consolidate: emptied");
  h.s.power.requestPowerOff("e", "api:ops", "operator request");
  await expect.poll(() => ["b", "c", "d", "e"].filter((x) => h.agents.up.has(x)), { timeout: 15_000, interval: 20 }).toEqual([]);
  h.clock.advance(h.s.state.staleAfterMs + 1);
  await h.report(["a"]);
  await h.s.tick();
  for (const host of ["b", "c", "d", "e"]) expect(h.s.state.stateOf(h.s.state.hosts.get(host)!, h.clock.now()), host).toBe("standby");
  return h;
}

/** The restore's wakes so far, by host. */
const restoreWakes = (h: Harness): Map<string, PowerRow> =>
  new Map(
    h.s.store.power
      .list({ limit: 100 })
      .filter((p) => p.action === "wake" && p.requestedBy === "schedule:consolidate")
      .map((p) => [p.host, p]),
  );

/**
 * At `hhmm`: a fresh report from every host that is up, the store flush (which refits the forecast
 * once per 5-minute bucket; the harness runs no flush timer) and one tick. The hosts the restore
 * has woken so far.
 */
async function tickAt(h: Harness, hhmm: string): Promise<string[]> {
  h.clock.set(at(hhmm));
  await h.report();
  h.s.flush();
  await h.s.tick();
  return [...restoreWakes(h).keys()].sort();
}

describe("the morning restore", () => {
  it("with a seasonal forecast wakes only the hosts the morning needs, each its wake p90 and the margin before, the rest before the close", async () => {
    await using h = await nightCluster(true);
    expect(await tickAt(h, "05:30:00")).toEqual([]);
    // The premise: the forecast has learnt the morning (a and two more hosts under the band from 06:00, a alone before).
    const f = h.s.forecasts.demandForecast()!;
    expect(f).toBeDefined();
    const step = (hhmm: string) => f.cpuMhz[(at(hhmm) - f.fromMs) / f.stepMs]!;
    expect(step("05:55:00")).toBeLessThan(12_800);
    for (const t of ["06:00:00", "06:15:00"]) {
      expect(step(t)).toBeGreaterThan(25_600);
      expect(step(t)).toBeLessThan(38_400);
    }

    // Two more hosts are needed at 06:00: the fastest Drover powered off (b, 60 s) and the next (c,
    // 600 s). The slow one goes first: 06:00 - 600 s - 2 min = 05:48, b at 06:00 - 60 s - 2 min = 05:57.
    expect(await tickAt(h, "05:40:00")).toEqual([]);
    expect(await tickAt(h, "05:47:59")).toEqual([]);
    expect(h.s.modes.window().restoring).toBe(false);
    expect(await tickAt(h, "05:48:00")).toEqual(["c"]);
    expect(h.s.modes.window().restoring).toBe(true);
    expect(h.s.state.hosts.get("c")!.mode).toBe("waking");
    expect(await tickAt(h, "05:56:59")).toEqual(["c"]);
    expect(await tickAt(h, "05:57:00")).toEqual(["b", "c"]);
    // d is not needed before the window ends: it is woken the margin before the close, with the rest.
    expect(await tickAt(h, "05:57:59")).toEqual(["b", "c"]);
    expect(await tickAt(h, "05:58:00")).toEqual(["b", "c", "d"]);
    // e was powered off by an operator: it stays off, though it wakes fastest.
    expect(await tickAt(h, "05:59:59")).toEqual(["b", "c", "d"]);
    expect(h.s.store.power.list({ host: "e", limit: 10 }).filter((p) => p.action === "wake" && p.requestedBy !== "test")).toEqual([]);

    const wakes = restoreWakes(h);
    expect(wakes.get("c")!.reason).toMatch(/forecast demand \d+ MHz at 06:00 UTC needs c on; c's p90 wake 600 s, 120 s margin/);
    expect(wakes.get("b")!.reason).toMatch(/forecast demand \d+ MHz at 06:00 UTC needs b on; b's p90 wake 60 s, 120 s margin/);
    expect(wakes.get("d")!.reason).toMatch(
      /window ends at 06:00 UTC.*the forecast needs it no sooner; d's no wake measured yet, the wake timeout 900 s/,
    );
    for (const w of wakes.values()) expect(w.status).not.toBe("cancelled");
    await expect.poll(() => udp.packets.length, { timeout: 15_000, interval: 20, message: "three magic packets" }).toBe(3);
  }, 60_000);

  it("meets a rise inside the window's last part with the fastest host first, the next as the morning needs it", async () => {
    // 20,000 MHz from 05:45 (one host more than a), the morning's 30,000 from 06:00 (two more).
    await using h = await nightCluster(true, (minute) =>
      minute >= 5 * 60 + 45 && minute < 6 * 60 ? 20_000 : morningAt6(MORNING_MHZ)(minute),
    );
    expect(await tickAt(h, "05:30:00")).toEqual([]);
    // b (60 s) for 05:45: 05:45 - 60 s - 2 min; c (600 s) for 06:00: 05:48; d before the close.
    expect(await tickAt(h, "05:41:59")).toEqual([]);
    expect(await tickAt(h, "05:42:00")).toEqual(["b"]);
    expect(restoreWakes(h).get("b")!.reason).toMatch(/forecast demand \d+ MHz at 05:45 UTC needs b on/);
    // b comes up as measured (a wake that never does is replaced: the next host is then needed).
    h.agents.revive("b");
    await tickAt(h, "05:43:00");
    expect(h.s.state.stateOf(h.s.state.hosts.get("b")!, h.clock.now())).toBe("healthy");
    expect(await tickAt(h, "05:47:59")).toEqual(["b"]);
    expect(await tickAt(h, "05:48:00")).toEqual(["b", "c"]);
    expect(await tickAt(h, "05:57:59")).toEqual(["b", "c"]);
    expect(await tickAt(h, "05:58:00")).toEqual(["b", "c", "d"]);
  }, 60_000);

  it("replaces a restore wake that fails with the next host the forecast needs, never an operator's", async () => {
    await using h = await nightCluster(true, (minute) =>
      minute >= 5 * 60 + 45 && minute < 6 * 60 ? 20_000 : morningAt6(MORNING_MHZ)(minute),
    );
    expect(await tickAt(h, "05:42:00")).toEqual(["b"]);
    // b never reports: its wake times out after 900 s, and with c waking the morning at 06:00 needs d, now
    // (due at 06:00 - 900 s - 2 min), not e, the operator's, though it would be on sooner.
    expect(await tickAt(h, "05:48:00")).toEqual(["b", "c"]);
    expect(await tickAt(h, "05:56:59")).toEqual(["b", "c"]);
    expect(await tickAt(h, "05:57:01")).toEqual(["b", "c", "d"]);
    expect(h.s.store.power.get(restoreWakes(h).get("b")!.id)!.status).toBe("timed-out");
    expect(restoreWakes(h).get("d")!.reason).toMatch(/forecast demand \d+ MHz at 06:00 UTC needs d on/);
    expect(h.s.state.hosts.get("e")!.mode).toBe("standby");
  }, 60_000);

  it("never wakes an operator's power-off, even when the forecast demand needs every host", async () => {
    // 50,000 MHz is more than the 20 guests can use (40,000): a and three more hosts under the band.
    await using h = await nightCluster(true, morningAt6(50_000));
    expect(await tickAt(h, "05:30:00")).toEqual([]);
    // d has no measured wake: its timeout, 900 s, and the margin before 06:00.
    expect(await tickAt(h, "05:42:59")).toEqual([]);
    expect(await tickAt(h, "05:43:00")).toEqual(["d"]);
    expect(await tickAt(h, "05:48:00")).toEqual(["c", "d"]);
    expect(await tickAt(h, "05:57:00")).toEqual(["b", "c", "d"]);
    expect(await tickAt(h, "05:59:59")).toEqual(["b", "c", "d"]);
    expect(h.s.state.hosts.get("e")!.mode).toBe("standby");
    expect(restoreWakes(h).get("d")!.reason).toMatch(/at 06:00 UTC needs d on; d's no wake measured yet, the wake timeout 900 s/);
  }, 60_000);

  it("without a seasonal forecast wakes every host Drover powered off at the fixed offset, and says why", async () => {
    await using h = await nightCluster(false);
    expect(await tickAt(h, "05:29:59")).toEqual([]);
    expect(h.s.forecasts.demandForecast()).toBeUndefined();
    expect(await tickAt(h, "05:30:00")).toEqual(["b", "c", "d"]);
    for (const w of restoreWakes(h).values())
      expect(w.reason).toBe(
        "restore capacity 30 min before the consolidation window ends at 06:00 UTC (no seasonal forecast: less than a day of load history)",
      );
    expect(await tickAt(h, "05:59:59")).toEqual(["b", "c", "d"]);
    expect(h.s.state.hosts.get("e")!.mode).toBe("standby");
  }, 60_000);
});
