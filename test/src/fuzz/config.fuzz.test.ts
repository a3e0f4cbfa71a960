// The agent's and the scheduler's config loaders (loadConfig: read the file, parse YAML, validate),
// RUNS YAML files each, generated and mutated from valid configs: the mutations of kit.ts written as
// YAML, YAML's own oddities in place of a value (tags, aliases, an alias bomb, `.nan`, `yes`, dates),
// and broken YAML. The only error is the loader's ConfigError, naming the broken key.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError as AgentConfigError, loadConfig as loadAgentConfig } from "../../../agents/host-agent/src/index.js";
import { ConfigError as SchedulerConfigError, loadConfig as loadSchedulerConfig } from "@drover/scheduler";
import { RUNS, fcParams, inputsFrom, namesField, note, pathsOf, printSummary, prototypePolluted, tally, watchRejections } from "./kit.js";
import type { Mutant, Path, Tally } from "./kit.js";

const agentConfig = {
  cluster: "lab",
  host: "h1",
  nats: { servers: ["nats://127.0.0.1:4222"], nkeySeedFile: "/etc/drover/h1.nk", tls: { ca: "/etc/drover/ca.pem" } },
  libvirt: { uri: "qemu+tcp://127.0.1.1/system", reconnectMinMs: 500, callTimeoutMs: 5000 },
  reportIntervalMs: 2000,
  dirtyRate: { enabled: true, everyMs: 60_000, measureSeconds: 1 },
  storage: { sharedFsTypes: ["nfs4"], sharedPaths: ["/srv/shared"] },
  bridges: ["br0"],
  power: { offCommand: ["systemctl", "poweroff"], wake: [{ method: "wol", mac: "02:00:00:00:01:01", address: "127.0.1.1" }] },
  labSafeNetwork: true,
  migration: { peerPortMin: 49152, peerPortMax: 49215, maxConcurrent: 2 },
  logLevel: "info",
};

const schedulerConfig = {
  cluster: "lab",
  nats: { servers: ["nats://127.0.0.1:4222"], nkeySeedFile: "/etc/drover/scheduler.nk", requestTimeoutMs: 5000 },
  stateDir: "/var/lib/drover",
  http: { host: "127.0.0.1", port: 7070 },
  reports: { intervalMs: 5000, unreachableAfter: 3, maxClockSkewMs: 30_000, admitUnknownHosts: false },
  policies: {
    balance: { mode: "recommend", everyMs: 60_000 },
    consolidate: { mode: "automatic", args: { band: { low: 0.2, high: 0.35 } }, window: { start: "22:00", end: "06:00", days: "mon-fri" } },
    drain: { mode: "automatic" },
  },
  limits: { perSource: 2, perDestination: 2, perCluster: 8 },
  migration: {
    maxDowntimeMs: 300,
    escalation: [{ action: "raise-downtime", toMs: 1000 }, { action: "abort" }],
    calibration: { samples: 20 },
  },
  cooldowns: { vmMs: 900_000 },
  spare: { hosts: 1, cpuFraction: 0.5 },
  rules: [{ id: "spread-db", kind: "vm-anti-affinity", tag: "db" }],
  hosts: { h1: { power: { wake: "wol", mac: "02:00:00:00:01:01", address: "127.0.1.1", idleW: 80, maxW: 300 } } },
};

const yamlOddities = [
  "!!binary aGVsbG8=",
  "!!js/function 'function(){}'",
  "!!set { a, b }",
  "*undefinedAlias",
  "&x [*x]",
  ".nan",
  "-.inf",
  "0o17",
  "0x1F",
  "1_000",
  "yes",
  "~",
  "2001-12-14t21:59:43.10-05:00",
  "'unterminated",
  '"\\x"',
  "{ a: 1, a: 2 }",
  "[1, [2, [3, [4]]]",
  "? complex\n: key",
  "|\n  block\n\ttab",
  "<<: *nothing",
];
/** Reuses an alias 10^6 times (the "billion laughs"): the YAML parser's alias limit must refuse it. */
const aliasBomb = `a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n`;

/** The path's value in the config's YAML replaced by YAML text (`key: <text>`), or broken YAML. */
function yamlMutations(base: object): fc.Arbitrary<Mutant> {
  const leaves = pathsOf(base).filter((p) => typeof p.at(-1) === "string");
  const asYaml = (v: unknown) => stringify(v, { lineWidth: 0 });
  const text = asYaml(base);
  const m = (kind: string, t: string, field: string | null): Mutant => ({ kind, text: t, bytes: new TextEncoder().encode(t), field });
  const setRaw = (p: Path, raw: string) => {
    const marker = "fuzz-marker-value";
    const copy = structuredClone(base) as Record<string, unknown>;
    const parent = p.slice(0, -1).reduce<Record<string | number, unknown>>((o, k) => o[k] as Record<string | number, unknown>, copy);
    parent[p.at(-1)!] = marker;
    // Block scalars and multi-line text go on their own lines, indented under the key.
    return asYaml(copy).replace(marker, raw.includes("\n") ? raw.replace(/\n/g, "\n      ") : raw);
  };
  return fc.oneof(
    fc.tuple(fc.constantFrom(...leaves), fc.constantFrom(...yamlOddities)).map(([p, raw]) => m("yaml-oddity", setRaw(p, raw), p.join("."))),
    fc.integer({ min: 0, max: text.length - 1 }).map((n) => m("yaml-truncated", text.slice(0, n), null)),
    fc
      .tuple(
        fc.integer({ min: 0, max: text.split("\n").length - 1 }),
        fc.constantFrom("\t", "  ", "- ", ": ", "---", "%YAML 9.9", "\u0000"),
      )
      .map(([line, junk]) => {
        const lines = text.split("\n");
        lines[line] = junk + lines[line]!;
        return m("yaml-broken-line", lines.join("\n"), null);
      }),
    fc.constant(m("yaml-alias-bomb", aliasBomb, null)),
    fc.string({ unit: "binary", maxLength: 400 }).map((s) => m("yaml-text", s, null)),
  );
}

/** JSON mutants (kit.ts) written as YAML when they are still JSON, as raw bytes otherwise. */
function configInputs(base: object): fc.Arbitrary<Mutant> {
  // YAML parsers take quadratic time on deep nesting: 100 levels say what 3,000 would.
  const json = inputsFrom([base], { maxDepth: 100 }).map((mu) => {
    // JSON is YAML (flow style); every fourth one is written in block style too.
    if (mu.kind === "truncated" || mu.kind === "invalid-utf8" || mu.kind === "arbitrary-bytes" || mu.text.length % 4 !== 0) return mu;
    const t = stringify(JSON.parse(mu.text), { lineWidth: 0, aliasDuplicateObjects: false });
    return { ...mu, text: t, bytes: new TextEncoder().encode(t) };
  });
  return fc.oneof({ weight: 3, arbitrary: json }, { weight: 1, arbitrary: yamlMutations(base) });
}

interface Loader {
  entry: string;
  valid: object;
  load(file: string): Promise<unknown>;
  /** The keys a ConfigError names, or undefined for another error. */
  keysOf(e: unknown): { field: string; message: string }[] | undefined;
}

const loaders: Loader[] = [
  {
    entry: "agent loadConfig (YAML)",
    valid: agentConfig,
    load: (f) => loadAgentConfig(f, {}),
    // The message lists "key: why" per key, joined by "; ".
    keysOf: (e) =>
      e instanceof AgentConfigError
        ? e.keys.map((k) => ({ field: k, message: e.message.split(`${k}: `)[1]?.split("; ")[0] ?? e.message }))
        : undefined,
  },
  {
    entry: "scheduler loadConfig (YAML)",
    valid: schedulerConfig,
    load: (f) => loadSchedulerConfig(f),
    keysOf: (e) => (e instanceof SchedulerConfigError ? e.issues.map((i) => ({ field: i.key, message: i.message })) : undefined),
  },
];

describe("fuzz: config loaders", () => {
  let dir = "";
  const tallies: Tally[] = [];
  const rejections = watchRejections();
  // The YAML parser warns (process.emitWarning) about unknown tags and directives: counted, not printed 10,000 times.
  const emitWarning = process.emitWarning;
  let warnings = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-fuzz-config-"));
    process.emitWarning = () => void warnings++;
  });
  afterAll(async () => {
    process.emitWarning = emitWarning;
    process.stdout.write(`fuzz config loaders: ${warnings} YAML warnings\n`);
    rejections.stop();
    printSummary(tallies);
    await rm(dir, { recursive: true, force: true });
  });

  for (const l of loaders) {
    it(`${l.entry}: ${RUNS} files, only ConfigError, naming the key`, { timeout: 300_000 }, async () => {
      const file = join(dir, `${l.entry.split(" ")[0]}.yaml`);
      await writeFile(file, stringify(l.valid));
      await l.load(file);
      const t = tally(l.entry);
      tallies.push(t);
      await fc.assert(
        fc.asyncProperty(configInputs(l.valid), async (m) => {
          t.tried++;
          await writeFile(file, m.bytes);
          try {
            await l.load(file);
            t.accepted++;
          } catch (e) {
            const keys = l.keysOf(e);
            if (!keys) return note(t, "crash", `${m.kind} threw ${String(e)}: ${m.text.slice(0, 300)}`);
            t.rejected++;
            // A file that is no YAML names the file; a key-level mutation must name its key.
            const yamlLevel = keys.length === 0 || keys.every((k) => k.field === "(file)");
            if (m.field !== null && m.field !== "(json)" && !yamlLevel && !namesField(keys, m.field))
              note(t, "unnamed", `${m.kind} at ${m.field}: ${(e as Error).message.slice(0, 300)}`);
          }
          if (prototypePolluted()) note(t, "crash", `${m.kind} reached Object.prototype: ${m.text.slice(0, 300)}`);
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
