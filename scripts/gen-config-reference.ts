// Generates the configuration reference (docs/configuration.md) and the commented config files
// `drover install` writes (deploy/config/*.yaml) from the agent's and the scheduler's zod schemas.
//   node --import tsx scripts/gen-config-reference.ts          writes them
// test/src/config-reference.test.ts fails when a committed file differs from what this makes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AgentConfigSchema, DEFAULT_STATE_DIR } from "../agents/host-agent/src/config.js";
import { checkDescribed, configKeys, renderMarkdown, renderYaml } from "../cli/src/config-reference.js";
import { SchedulerConfig } from "../scheduler/src/config.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The scheduler's store lives where systemd's StateDirectory= puts it (deploy/systemd/drover-scheduler.service). */
const SCHEDULER_STATE_DIR = "/var/lib/drover-scheduler";

const apps = [
  {
    app: "drover-scheduler",
    file: "scheduler.yaml",
    schema: SchedulerConfig,
    values: { stateDir: SCHEDULER_STATE_DIR },
    about: "The scheduler: one per cluster (or several with leadership), reached by the drover CLI over HTTP.",
  },
  {
    app: "drover-agent",
    file: "agent.yaml",
    schema: AgentConfigSchema,
    values: { stateDir: DEFAULT_STATE_DIR },
    about:
      "The host agent: one per KVM host, next to libvirtd. Environment variables DROVER_* override keys (agents/host-agent/README.md).",
  },
] as const;

/** Every generated file by its path in the repository. Throws, naming them, on keys without a description. */
export function configReferenceFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const doc = [
    "# Configuration reference",
    "",
    "Generated from the zod schemas by `node --import tsx scripts/gen-config-reference.ts`; do not edit by hand",
    "(`test/src/config-reference.test.ts` fails when this file is out of date). `drover install agent|scheduler`",
    "writes the same keys as a commented YAML file (`deploy/config/`). A key left out takes its default; a",
    "**required** key must be set. Durations are in milliseconds (keys ending in `Ms`).",
  ];
  for (const a of apps) {
    const keys = configKeys(a.schema);
    checkDescribed(a.app, keys);
    files[`deploy/config/${a.file}`] = renderYaml(keys, {
      header: [
        `/etc/drover/${a.file}: configuration of ${a.app} (${a.app} --config /etc/drover/${a.file}).`,
        a.about,
        "Generated from its schema (scripts/gen-config-reference.ts); reference: docs/configuration.md.",
        "Every key is listed with its description, default and type. A line starting with '# key:' is commented out",
        "and holds the default; uncomment it (and its section's line) to change it. Keys left empty are required.",
        "Changes take effect on restart: systemctl restart " + a.app,
        // `drover install` reads this line to tell what to edit.
        `Required keys: ${keys
          .filter((k) => k.required && !k.section && !(k.path.join(".") in a.values))
          .map((k) => k.path.join("."))
          .join(", ")}`,
      ],
      values: a.values,
    });
    doc.push("", `## ${a.app} (\`/etc/drover/${a.file}\`)`, "", a.about, "", renderMarkdown(keys).trimEnd());
  }
  files["docs/configuration.md"] = `${doc.join("\n")}\n`;
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [path, text] of Object.entries(configReferenceFiles())) {
    writeFileSync(join(ROOT, path), text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
