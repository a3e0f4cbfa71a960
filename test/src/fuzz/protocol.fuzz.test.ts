// Every message type that crosses the bus, through the bus's own decode path (codec.ts `decode`, what
// subscribe, serve and request run on each payload): RUNS generated and mutated payloads each. decode
// never throws; a refusal is an InvalidMessageError naming the broken field, or "(json)" for bytes
// that are no JSON; nothing reaches Object.prototype.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { InvalidMessageError, decode, type Direction } from "@drover/bus";
import {
  Command,
  CommandReply,
  HostEvent,
  HostReport,
  MigrationProgress,
  MigrationResult,
  subjects,
  type CommandInput,
} from "@drover/protocol";
import { T0, hostReport, migrateCommand, migrationProgress, migrationResult, testUuid, vmReport } from "@drover/protocol/testing";
import {
  RUNS,
  fcParams,
  inputsFrom,
  namesField,
  note,
  printSummary,
  prototypePolluted,
  tally,
  watchRejections,
  type Tally,
} from "./kit.js";

const C = "lab";
const base = { v: 1, id: "cmd-2", issuedAtMs: T0, issuedBy: "scheduler" } as const;
const commands: Record<string, CommandInput> = {
  migrate: migrateCommand(),
  preflight: { ...base, kind: "preflight", vm: "vm1", destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" }, copyStorage: false },
  abort: { ...base, kind: "abort", migrationId: "mig-1" },
  "power-off": { ...base, kind: "power-off" },
  "wake-peer": { ...base, kind: "wake-peer", target: "h3", mac: "02:00:00:00:01:03", address: "127.0.1.3", port: 9 },
  status: { ...base, kind: "status", commandId: "cmd-1" },
};

interface Wire {
  name: string;
  schema: z.ZodType;
  subject: string;
  direction: Direction;
  valid: unknown[];
}

const wire: Wire[] = [
  {
    name: "HostReport",
    schema: HostReport,
    subject: subjects.hostReport(C, "h1"),
    direction: "receive",
    valid: [hostReport({ vms: [vmReport(1), vmReport(2, { tags: ["drover:pinned"], dirtyRateMiBs: 3 })] })],
  },
  ...Object.entries(commands).map(([kind, cmd]) => ({
    name: `Command ${kind}`,
    schema: Command,
    subject: subjects.hostCommand(C, "h1"),
    direction: "request" as const,
    valid: [cmd],
  })),
  {
    name: "CommandReply",
    schema: CommandReply,
    subject: subjects.hostCommand(C, "h1"),
    direction: "reply",
    valid: [
      {
        v: 1,
        id: "cmd-1",
        host: "h1",
        kind: "migrate",
        status: "accepted",
        duplicate: false,
        error: null,
        migrationId: "mig-1",
        timeMs: T0,
      },
      {
        v: 1,
        id: "cmd-2",
        host: "h1",
        kind: "preflight",
        status: "failed",
        error: { code: "preflight-failed", message: "bridges" },
        checks: [{ check: "bridges", ok: false, reason: "br1 missing on h2" }],
        timeMs: T0,
        elapsedMs: 12,
      },
    ],
  },
  {
    name: "HostEvent",
    schema: HostEvent,
    subject: subjects.hostEvent(C, "h1"),
    direction: "receive",
    valid: [
      {
        v: 1,
        host: "h1",
        timeMs: T0,
        kind: "command",
        detail: "migrate vm1 to h2",
        command: {
          id: "cmd-1",
          kind: "migrate",
          issuedBy: "scheduler",
          vm: "vm1",
          destination: { host: "h2", uri: "qemu+tcp://127.0.1.2/system" },
          outcome: "accepted",
          duplicate: false,
          error: null,
        },
      },
    ],
  },
  {
    name: "MigrationProgress",
    schema: MigrationProgress,
    subject: subjects.migrationProgress(C, "h1", "mig-1"),
    direction: "receive",
    valid: [migrationProgress()],
  },
  {
    name: "MigrationResult",
    schema: MigrationResult,
    subject: subjects.migrationResult(C, "h1", "mig-1"),
    direction: "receive",
    valid: [
      migrationResult(),
      migrationResult({ outcome: "failed", completedBy: null, vmRunningOn: "h1", error: { code: "x", message: "y" }, vmUuid: testUuid(2) }),
    ],
  },
];

describe("fuzz: protocol decoders on the bus's decode path", () => {
  const tallies: Tally[] = [];
  const rejections = watchRejections();
  afterAll(() => {
    rejections.stop();
    printSummary(tallies);
  });

  for (const w of wire) {
    it(`${w.name}: ${RUNS} payloads, never a throw, every refusal names its field`, () => {
      for (const v of w.valid) expect(decode(w.schema, new TextEncoder().encode(JSON.stringify(v)), w.subject, w.direction).ok).toBe(true);
      const t = tally(`decode ${w.name}`);
      tallies.push(t);
      fc.assert(
        fc.property(inputsFrom(w.valid), (m) => {
          t.tried++;
          let d: ReturnType<typeof decode>;
          try {
            d = decode(w.schema, m.bytes, w.subject, w.direction);
          } catch (e) {
            return note(t, "crash", `${m.kind} threw ${String(e)}: ${m.text.slice(0, 300)}`);
          }
          if (prototypePolluted()) return note(t, "crash", `${m.kind} reached Object.prototype: ${m.text.slice(0, 300)}`);
          if (d.ok) return void t.accepted++;
          t.rejected++;
          if (!(d.error instanceof InvalidMessageError) || d.error.subject !== w.subject)
            return note(t, "crash", `${m.kind}: refusal is not an InvalidMessageError on the subject: ${String(d.error)}`);
          if (m.field !== null && !namesField(d.error.issues, m.field))
            note(t, "unnamed", `${m.kind} at ${m.field}: ${d.error.message.slice(0, 300)}`);
        }),
        fcParams(),
      );
      expect(t.tried).toBeGreaterThanOrEqual(RUNS);
      expect(t.rejected).toBeGreaterThan(0);
      expect([t.crashes, t.unnamed, t.examples]).toEqual([0, 0, []]);
      expect(rejections.seen).toEqual([]);
    });
  }
});
