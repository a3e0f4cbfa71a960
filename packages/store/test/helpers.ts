import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MigrationInput, PlanInput } from "../src/index.js";

/** A fresh directory under the OS temp dir, removed by `using`. */
export function tempDir(): { path: string; file: (name?: string) => string } & Disposable {
  const path = mkdtempSync(join(tmpdir(), "drover-store-"));
  return {
    path,
    file: (name = "drover.db") => join(path, name),
    [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }),
  };
}

export const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

export function migration(id: string, over: Partial<MigrationInput> = {}): MigrationInput {
  return {
    id,
    commandId: `cmd-${id}`,
    vmUuid: uuid(1),
    vmName: "web1",
    source: "kvm01",
    destination: "kvm02",
    requestedBy: "scheduler",
    reason: "kvm01 CPU 92% > 80%",
    createdMs: 1_000,
    ...over,
  };
}

export function plan(id: string, over: Partial<PlanInput> = {}): PlanInput {
  return {
    id,
    kind: "balance",
    createdMs: 1_000,
    mode: "automatic",
    requestedBy: "scheduler",
    summary: "move web1 off hot kvm01",
    explanation: { imbalanceBefore: 0.4, imbalanceAfter: 0.1 },
    steps: [
      {
        index: 0,
        action: "migrate",
        vmUuid: uuid(1),
        vmName: "web1",
        source: "kvm01",
        destination: "kvm02",
        reason: "kvm01 CPU 92% > 80%",
        predictedDurationMs: 4_000,
        predictedDowntimeMs: 300,
        detail: { cost: 1.5, terms: ["memory", "dirty-rate"] },
      },
      { index: 1, action: "power-off", host: "kvm03", reason: "empty after consolidation" },
    ],
    ...over,
  };
}
