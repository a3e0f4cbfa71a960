// The model predicts each migration once per input (VMs of one shape share it): the predictions it
// hands the policies must be what the cost model says for that VM and path, whatever the order.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseClusterConfig, predictMigration } from "../src/index.js";
import type { ClusterSnapshot } from "../src/index.js";
import { buildModel } from "../src/model.js";
import { NOW, clusterArb } from "./arbitraries.js";

/** Few VM shapes and a few hosts on slower links, so inputs repeat and bandwidths differ. */
const shapedArb = fc
  .tuple(clusterArb, fc.array(fc.constantFrom(undefined, 50_000_000, 125_000_000), { minLength: 8, maxLength: 8 }))
  .map(([s, bws]): ClusterSnapshot => ({
    ...s,
    hosts: s.hosts.map((h, i) => (bws[i] === undefined ? h : { ...h, migrationBandwidthBytesPerSec: bws[i] })),
    vms: s.vms.map((v) => ({ ...v, memoryMiB: 512 * (1 + (v.memoryMiB % 3)) })),
  }));

describe("ClusterModel.prediction", () => {
  it("is the cost model's prediction for the VM and the path", () => {
    fc.assert(
      fc.property(shapedArb, fc.integer({ min: 0, max: 1000 }), (s, seed) => {
        const m = buildModel(s, NOW);
        const cfg = parseClusterConfig(s.config).migration;
        const H = s.hosts.length;
        for (let k = 0; k < s.vms.length * 3; k++) {
          const v = (seed + k * 7) % s.vms.length;
          const vm = s.vms[v]!;
          const src = m.hostIndex.get(vm.hostId)!;
          const dst = (seed + k) % H;
          const bw = Math.min(m.bandwidth[src]!, m.bandwidth[dst]!);
          const plain = predictMigration(
            {
              memoryMiB: vm.memoryMiB,
              dirtyRateBytesPerSec: vm.dirtyRateBytesPerSec ?? cfg.defaultDirtyRateBytesPerSec,
              bandwidthBytesPerSec: bw,
              allowPostCopy: vm.allowPostCopy === true,
            },
            cfg,
          );
          expect(m.prediction(v, src, dst)).toEqual(plain);
        }
      }),
      { numRuns: 300 },
    );
  });
});
