// historySamplesRead: a snapshot whose histories keep only that many newest samples plans the
// same (the scheduler keeps 60 samples and hands the policy only these).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { historySamplesRead, planProfile, powerOffBlockers } from "../src/index.js";
import type { ClusterSnapshot, Profile } from "../src/index.js";
import { NOW, clusterArb } from "./arbitraries.js";

const newest = (xs: readonly number[] | undefined, k: number) => (xs === undefined ? undefined : xs.slice(Math.max(0, xs.length - k)));

/** Every history of the snapshot cut to its `k` newest samples. */
function cut(s: ClusterSnapshot, k: number): ClusterSnapshot {
  return {
    ...s,
    hosts: s.hosts.map((h) => ({
      ...h,
      cpuUsageMhzHistory: newest(h.cpuUsageMhzHistory, k),
      memoryUsageMiBHistory: newest(h.memoryUsageMiBHistory, k),
    })),
    vms: s.vms.map((v) => ({
      ...v,
      cpuDemandMhzHistory: newest(v.cpuDemandMhzHistory, k) as number[],
      memoryDemandMiBHistory: newest(v.memoryDemandMiBHistory, k),
    })),
  };
}

const RUNS = { numRuns: Number(process.env.POLICY_FC_RUNS ?? 250) };

describe("historySamplesRead", () => {
  it("is the forecast window, or what a policy looks back over when that is longer", () => {
    expect(historySamplesRead({ forecast: { windowSamples: 6 } }, [{ policy: "consolidate" }, { policy: "drain" }])).toBe(6);
    expect(historySamplesRead({ forecast: { windowSamples: 2 } }, [{ policy: "balance", args: { sustainedSamples: 5 } }])).toBe(5);
    expect(historySamplesRead({ forecast: { windowSamples: 8 } }, [{ policy: "balance", args: { sustainedSamples: 5 } }])).toBe(8);
  });

  it("plans on histories cut to that many samples equal plans on the whole histories", () => {
    const profiles = (sustainedSamples: number): Profile[] => [
      { name: "balance", policies: [{ policy: "balance", args: { sustainedSamples, aggressiveness: 5 } }] },
      { name: "consolidate", policies: [{ policy: "consolidate", args: { band: { low: 0.4, high: 0.8 } } }] },
      { name: "drain", policies: [{ policy: "drain" }] },
      { name: "day", policies: [{ policy: "drain" }, { policy: "balance", args: { sustainedSamples } }] },
    ];
    let shorter = 0;
    fc.assert(
      fc.property(clusterArb, fc.integer({ min: 1, max: 6 }), (s, sustained) => {
        for (const profile of profiles(sustained)) {
          const k = historySamplesRead(s.config, profile.policies);
          const c = cut(s, k);
          if (c.vms.some((v, i) => v.cpuDemandMhzHistory.length < (s.vms[i]?.cpuDemandMhzHistory.length ?? 0))) shorter++;
          expect(planProfile(c, profile, { nowMs: NOW })).toEqual(planProfile(s, profile, { nowMs: NOW }));
        }
      }),
      RUNS,
    );
    // The generator must produce histories longer than what is read, or nothing was compared.
    expect(shorter).toBeGreaterThan(50);
  });

  it("with no policy named, is what the power-off rule reads", () => {
    fc.assert(
      fc.property(clusterArb, (s) => {
        const c = cut(s, historySamplesRead(s.config, []));
        for (const h of s.hosts) expect(powerOffBlockers(c, h.id)).toEqual(powerOffBlockers(s, h.id));
      }),
      RUNS,
    );
  });
});
