import { defineConfig } from "vitest/config";

// Two projects: fast unit tests run in parallel; lab tests share real libvirtd daemons and
// QEMU guests on a 2-core machine, so they run one file at a time.
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
        },
      },
      {
        test: {
          name: "lab",
          include: ["{packages,agents,scheduler,cli,test}/**/*.lab.test.ts"],
          exclude: ["**/node_modules/**"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
