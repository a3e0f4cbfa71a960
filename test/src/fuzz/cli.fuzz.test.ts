// The `drover` argument parser in-process (cli/src/program.ts, the program main.ts runs), RUNS
// argument lists generated from the program's own commands and mutated from valid command lines.
// API commands run their actions against a closed loopback port (the only address they can reach:
// --api is forced to it); lab, demo, credentials and simulate stop before their action. The only
// errors are commander's CommanderError and the CLI's CliError; a usage error names what is wrong.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError, type Command } from "commander";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliError, ExitCode } from "../../../cli/src/errors.js";
import { buildProgram } from "../../../cli/src/program.js";
import { REFUSED_API } from "../helpers/api.js";
import { RUNS, fcParams, note, printSummary, tally, watchRejections } from "./kit.js";

/** Commands whose action starts a lab, writes credentials or runs a long simulation: parsed, not run. */
const NOT_RUN = new Set(["lab", "demo", "credentials", "simulate"]);
class StoppedBeforeAction extends Error {}

const valid: string[][] = [
  ["status"],
  ["hosts", "--json"],
  ["vms"],
  ["plan", "balance"],
  ["plan", "drain", "h1", "--json"],
  ["plan", "approve", "plan-1"],
  ["plan", "reject", "plan-1"],
  ["mode", "balance", "automatic"],
  ["migrate", "vm1", "h2", "--wait"],
  ["abort", "mig-1", "--wait"],
  ["drain", "h1", "--power-off", "--wait"],
  ["undrain", "h1"],
  ["host", "forget", "h1"],
  ["power", "off", "h1"],
  ["history", "--limit", "10", "--kind", "migration"],
  ["history", "--since", "2h", "--host", "h1", "--vm", "vm1", "--kind", "host"],
  ["token", "create", "--name", "alice", "--role", "viewer"],
  ["token", "list"],
  ["token", "revoke", "alice"],
  ["lab", "up", "--hosts", "2", "--guests", "1", "--net", "40"],
  ["lab", "status", "--json"],
  ["credentials", "--cluster", "lab", "--out", "/nonexistent/creds", "--host", "h1,h2"],
  ["simulate", "--traces", "/nonexistent/trace.csv", "--hosts", "10"],
  ["demo", "--net", "90"],
];

const junk = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(
    "--",
    "-",
    "--json",
    "--help",
    "-h",
    "--version",
    "--unknown",
    "--limit=",
    "--limit",
    "-x",
    "=",
    "\u0000",
    "é",
    "0",
    "-1",
    "1e999",
  ),
  fc.constantFrom("NaN", "x".repeat(5000), "--kind=gossip", "--power-off=yes", "h 1", "../../etc", "vm1;rm -rf /"),
);

/** The command paths of the program (e.g. ["host", "forget"]) with their long flags. */
function commandsOf(cmd: Command, at: string[] = []): { path: string[]; flags: string[]; args: number }[] {
  return cmd.commands.flatMap((c) => {
    const path = [...at, c.name()];
    const own = { path, flags: c.options.map((o) => o.long ?? o.short ?? ""), args: c.registeredArguments.length };
    return c.commands.length ? commandsOf(c, path) : [own];
  });
}

interface Argv {
  kind: string;
  args: string[];
  /** What a usage error must mention (the token changed, or the flag whose value it was); null if anything. */
  names: string[] | null;
}

function argvs(commands: { path: string[]; flags: string[]; args: number }[]): fc.Arbitrary<Argv> {
  const base = fc.constantFrom(...valid);
  const generated = fc
    .tuple(fc.constantFrom(...commands), fc.array(junk, { maxLength: 3 }), fc.array(fc.nat(), { maxLength: 3 }))
    .chain(([c, positional, flagIdx]) =>
      fc
        .tuple(fc.constant(c), fc.constant(positional), fc.array(junk, { minLength: flagIdx.length, maxLength: flagIdx.length }))
        .map(([, pos, values]) => ({
          kind: "generated",
          args: [...c.path, ...pos, ...flagIdx.flatMap((i, k) => (c.flags.length ? [c.flags[i % c.flags.length]!, values[k]!] : []))],
          names: null,
        })),
    );
  const replaced = fc.tuple(base, fc.nat(), junk).map(([a, i, j]) => {
    const at = i % a.length;
    const args = a.map((x, k) => (k === at ? j : x));
    const flag = at > 0 && a[at - 1]!.startsWith("--") ? a[at - 1]! : null;
    // Named may be the token, the flag it was the value of, the command, or the token that moved into its place.
    const next = a[at + 1] !== undefined ? [a[at + 1]!] : [];
    return { kind: "replaced", args, names: [j, JSON.stringify(j), a[at]!, ...(flag ? [flag] : []), ...a.slice(0, 2), ...next] };
  });
  const inserted = fc.tuple(base, fc.nat(), junk).map(([a, i, j]) => {
    const at = i % (a.length + 1);
    return { kind: "inserted", args: [...a.slice(0, at), j, ...a.slice(at)], names: null };
  });
  const deleted = fc
    .tuple(base, fc.nat())
    .map(([a, i]) => ({ kind: "deleted", args: a.filter((_, k) => k !== i % a.length), names: null }));
  return fc.oneof(
    { weight: 3, arbitrary: replaced },
    { weight: 2, arbitrary: inserted },
    { weight: 1, arbitrary: deleted },
    { weight: 3, arbitrary: generated },
    { weight: 1, arbitrary: fc.array(junk, { maxLength: 6 }).map((args) => ({ kind: "junk", args, names: null })) },
    { weight: 1, arbitrary: base.map((args) => ({ kind: "valid", args, names: null })) },
  );
}

/** An empty token shows as '' or "" in a message. */
const mentions = (message: string, token: string) => (token === "" ? /''|""/.test(message) : message.includes(token));

describe("fuzz: the drover CLI's argument parser", () => {
  const t = tally("cli drover argv");
  const rejections = watchRejections();
  const saved = { ...process.env };
  let api = "";
  let dir = "";

  beforeAll(async () => {
    api = REFUSED_API;
    dir = await mkdtemp(join(tmpdir(), "drover-fuzz-cli-"));
    // No real token, lab or config is found, whatever the machine has.
    Object.assign(process.env, { DROVER_API: api, DROVER_TOKEN: "drover_fuzz", DROVER_LAB_DIR: dir, XDG_CONFIG_HOME: dir });
    for (const k of ["DROVER_TOKEN_FILE", "DROVER_CA_FILE"]) delete process.env[k];
  });
  afterAll(async () => {
    process.env = saved;
    rejections.stop();
    printSummary([t]);
    await rm(dir, { recursive: true, force: true });
  });

  it(`${RUNS} command lines: only CommanderError or CliError, usage errors name what is wrong`, { timeout: 600_000 }, async () => {
    const commands = commandsOf(buildProgram());
    expect(commands.map((c) => c.path.join(" "))).toEqual(expect.arrayContaining(["drain", "host forget", "token create", "lab up"]));
    let unreachable = 0;
    await fc.assert(
      fc.asyncProperty(argvs(commands), async (a) => {
        t.tried++;
        let out = "";
        const program = buildProgram({
          writeOut: (s) => void (out += s),
          writeErr: (s) => void (out += s),
          outputError: (s) => void (out += s),
        });
        program.hook("preAction", (_self, action) => {
          let top = action;
          while (top.parent && top.parent !== program) top = top.parent;
          if (NOT_RUN.has(top.name())) throw new StoppedBeforeAction();
        });
        // Only the closed port can be reached, whatever --api the arguments carry.
        const args = ["--api", api, ...a.args.map((x) => (x.startsWith("--api") ? `--api=${api}` : x))];
        const what = () => `${a.kind}: drover ${JSON.stringify(a.args).slice(0, 300)}`;
        try {
          await program.parseAsync(args, { from: "user" });
          t.accepted++;
        } catch (e) {
          if (e instanceof StoppedBeforeAction) return void t.accepted++;
          if (e instanceof CommanderError) {
            if (e.exitCode === 0) return void t.accepted++; // --help, --version
            t.rejected++;
            // No command at all shows the help (the commands are what is missing); a missing argument is named by its name.
            const namesItself = e.code === "commander.help" || e.code === "commander.missingArgument";
            if (a.names && !namesItself && !a.names.some((n) => mentions(e.message, n)))
              note(t, "unnamed", `${e.message.slice(0, 200)}: ${what()}`);
            return;
          }
          if (!(e instanceof CliError)) return note(t, "crash", `threw ${String(e)}: ${what()}`);
          if (e.exitCode === ExitCode.Unreachable) {
            if (!e.message.includes(api)) note(t, "crash", `unreachable, but not at the closed port: ${e.message}: ${what()}`);
            unreachable++;
            return void t.accepted++;
          }
          t.rejected++;
          if (e.exitCode === ExitCode.Usage && a.names && !a.names.some((n) => mentions(e.message, n)))
            note(t, "unnamed", `${e.message.slice(0, 200)}: ${what()}`);
        } finally {
          process.exitCode = undefined;
        }
      }),
      fcParams(),
    );
    process.stdout.write(`fuzz cli: ${unreachable} command lines reached the (closed) API port\n`);
    expect(t.tried).toBeGreaterThanOrEqual(RUNS);
    expect(t.rejected).toBeGreaterThan(0);
    expect(unreachable).toBeGreaterThan(0);
    expect([t.crashes, t.unnamed, t.examples]).toEqual([0, 0, []]);
    expect(rejections.seen).toEqual([]);
  });
});
