import { defineConfig } from "vitest/config";

// Two projects, run one after the other (sequence.groupOrder): unit tests in parallel, more workers
// than cores because many of them wait (on nats-server, ipmitool, a lease's TTL) rather than compute;
// lab files run two at a time: each lab mostly waits (a third of 2 cores busy on average) and owns
// its addresses, ports and namespaces by its `net` (lab-nets.test.ts holds every file to a net of its own).
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
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "lab",
          include: ["{packages,agents,scheduler,cli,test}/**/*.lab.test.ts"],
          exclude: ["**/node_modules/**"],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
