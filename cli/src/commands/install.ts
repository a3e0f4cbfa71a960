// `drover install agent|scheduler [--root DIR]`: the systemd unit (deploy/systemd/, with this node
// and this checkout filled in), the system users file, and the commented config generated from the
// app's schema (deploy/config/, see scripts/gen-config-reference.ts). An existing config is never
// overwritten; the unit and the users file are Drover's own and are brought up to date.
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { CliError, usageError } from "../errors.js";
import { printJson } from "../format.js";
import { REPO_ROOT } from "../paths.js";

export const INSTALL_APPS = ["agent", "scheduler"] as const;
export type InstallApp = (typeof INSTALL_APPS)[number];

export interface InstallResult {
  app: InstallApp;
  root: string;
  /** Paths (inside root) and what happened to each. */
  files: { path: string; action: "written" | "updated" | "unchanged" | "kept" }[];
  /** Keys the config needs before the first start. */
  requiredKeys: string[];
  next: string[];
}

/** The unit with the node binary and the Drover checkout it runs filled in. */
export async function renderUnit(app: InstallApp, node = process.execPath, drover = REPO_ROOT): Promise<string> {
  const text = await readFile(join(REPO_ROOT, "deploy", "systemd", `drover-${app}.service`), "utf8");
  return text.replaceAll("@NODE@", node).replaceAll("@DROVER@", drover);
}

async function put(file: string, text: string, mode: number): Promise<"written" | "updated" | "unchanged"> {
  const old = existsSync(file) ? await readFile(file, "utf8") : null;
  if (old === text) return "unchanged";
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  return old === null ? "written" : "updated";
}

export async function install(app: InstallApp, root: string): Promise<InstallResult> {
  const at = (p: string) => join(root, p);
  const unitPath = `/etc/systemd/system/drover-${app}.service`;
  const configPath = `/etc/drover/${app}.yaml`;
  const usersPath = "/etc/sysusers.d/drover.conf";
  const config = await readFile(join(REPO_ROOT, "deploy", "config", `${app}.yaml`), "utf8");
  const files: InstallResult["files"] = [];
  const unitText = await renderUnit(app);
  // The command systemd will run, with --check: the config checked as the service will read it.
  const check = /^ExecStart=(.*)$/m.exec(unitText)?.[1]?.replace(" --config ", " --check --config ");
  try {
    files.push({ path: unitPath, action: await put(at(unitPath), unitText, 0o644) });
    files.push({
      path: usersPath,
      action: await put(at(usersPath), await readFile(join(REPO_ROOT, "deploy", "systemd", "drover-sysusers.conf"), "utf8"), 0o644),
    });
    if (existsSync(at(configPath))) files.push({ path: configPath, action: "kept" });
    // Readable by the service's user: the file names where secrets are (passFile, nkeySeedFile), never holds them.
    else files.push({ path: configPath, action: await put(at(configPath), config, 0o644) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(
      `cannot install under ${root}: ${err.path ?? ""} ${err.code ?? err.message}${err.code === "EACCES" ? " (run as root, or give --root DIR)" : ""}`,
      "install-failed",
      undefined,
      { cause: e },
    );
  }
  const requiredKeys = /^# Required keys: (.*)$/m.exec(config)?.[1]?.split(", ").filter(Boolean) ?? [];
  const kept = files.find((f) => f.path === configPath)?.action === "kept";
  const unit = `drover-${app}`;
  const next = [
    kept
      ? `review ${configPath} (kept as it was; the keys of this version: ${join(REPO_ROOT, "deploy", "config", `${app}.yaml`)}, ${join(REPO_ROOT, "docs", "configuration.md")})`
      : `edit ${configPath}: set ${requiredKeys.join(", ")} (every key, its type and default: ${join(REPO_ROOT, "docs", "configuration.md")})`,
    app === "agent"
      ? "NATS identity of this host: `drover credentials --cluster C --out DIR --host H` on a trusted machine, then nats.nkeySeedFile and nats.tls in the config"
      : "NATS identity of the scheduler: `drover credentials ...` (the scheduler's seed and certificate), then nats.nkeySeedFile and nats.tls in the config",
    `systemd-sysusers    # creates the user ${unit}${app === "agent" ? " (member of the group libvirt, whose socket libvirtd serves)" : ""}`,
    ...(app === "agent"
      ? ["to let Drover power this host off: power.offCommand: [systemctl, poweroff] and the polkit rule in deploy/systemd/README.md"]
      : ["the first API token: drover-scheduler token create --config /etc/drover/scheduler.yaml --role admin --name NAME (as root)"]),
    ...(check ? [`${check}    # says "config OK", or names each problem; connects to nothing`] : []),
    `systemctl daemon-reload && systemctl enable --now ${unit}`,
    `journalctl -u ${unit} -f`,
  ];
  return { app, root, files, requiredKeys, next };
}

export function registerInstallCommand(program: Command): void {
  program
    .command("install")
    .description("write the systemd unit, the system user and a commented config (never overwritten) of the agent or the scheduler")
    .argument("<app>", INSTALL_APPS.join(" | "))
    .option("--root <dir>", "install under this directory instead of / (an image, a package, a test)", "/")
    .option("--json", "print what was written as JSON")
    .action(async (app: string, o: { root: string; json?: boolean }) => {
      if (!(INSTALL_APPS as readonly string[]).includes(app))
        throw usageError(`install takes ${INSTALL_APPS.join(" or ")}, not ${JSON.stringify(app)}`);
      const r = await install(app as InstallApp, resolve(o.root));
      if (o.json) return printJson(r);
      const w = (s: string) => process.stdout.write(`${s}\n`);
      for (const f of r.files)
        w(f.action === "kept" ? `kept    ${f.path}: it exists and is never overwritten` : `${f.action.padEnd(7)} ${f.path}`);
      if (r.root !== "/") w(`(under ${r.root})`);
      w("Next:");
      r.next.forEach((s, i) => w(`  ${i + 1}. ${s}`));
    });
}
