import { defineConfig } from "vitest/config";

// Two projects, run one after the other (sequence.groupOrder): unit tests in parallel, more workers
// than cores because many of them wait (on nats-server, ipmitool, a lease's TTL) rather than compute;
// lab files three at a time: they mostly wait too (one alone, past its start, keeps a tenth of 2 cores
// busy), and each owns its addresses, ports and namespaces by its `net` (lab-nets.test.ts). No lab
// guest burns a core it does not need (a guest that must dirty memory faster than a move's cap writes
// at a bounded rate, not "max"). Measured (2026-12-07, `npx vitest run --project lab` on a fresh
// cache): two at a time ~1,050 s (CI), three 868 s, four 788 s; but at four the CPU is ~95% busy and
// in a full CI run a woken lab host's libvirtd did not answer within its 60 s start deadline. More load
// makes QEMU 7.2's TCG migration bug (ARCHITECTURE.md, "The lab") kill guests more often; the tick
// checks tell those apart from a VM Drover lost (ticksAbove, movedLive).
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
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
