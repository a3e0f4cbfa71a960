import { defineConfig } from "vitest/config";

// Two projects, run one after the other (sequence.groupOrder): unit tests in parallel, more workers
// than cores because many of them wait (on nats-server, ipmitool, a lease's TTL) rather than compute;
// lab files one at a time. Each owns its addresses, ports and namespaces by its `net` (lab-nets.test.ts),
// so two can run together (--maxWorkers=2: ~600 s instead of ~1,000 s), but the doubled load makes
// QEMU 7.2's TCG migration bug (ARCHITECTURE.md, "The lab") lose guests: 2 of 3 full runs failed so.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{packages,agents,scheduler,cli,test}/**/test/**/*.test.ts", "test/src/**/*.test.ts"],
          exclude: ["**/*.lab.test.ts", "**/node_modules/**"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          maxWorkers: 4,
          // Files share their worker's modules (220 s -> 163-170 s wall: imports 121 s -> 22 s). No unit
          // test mocks modules, stubs globals or sets process.env; one that did would have to undo it.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "lab",
          include: ["{packages,agents,scheduler,cli,test}/**/*.lab.test.ts"],
          exclude: ["**/node_modules/**"],
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
