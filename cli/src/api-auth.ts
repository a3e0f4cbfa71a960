// Where `drover` finds its API token and the CA it trusts. Never on the command line (it would show
// in `ps` and shell history): DROVER_TOKEN, else a file that only its owner can read.
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { labDir } from "@drover/lab";
import { CliError, ExitCode, usageError } from "./errors.js";

/** The lab's admin token, written 0600 by `drover lab up` next to drover-api.json. */
export const LAB_TOKEN_FILE = "drover-api-token";

export function defaultTokenFile(): string {
  return join(process.env["XDG_CONFIG_HOME"] || join(homedir(), ".config"), "drover", "token");
}

const TOKEN = /^[A-Za-z0-9_-]{1,200}$/;

/** Reads a token file, refusing one that its group or others may read (naming it and the fix). */
export function readTokenFile(file: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (e) {
    throw usageError(`token file ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (e as Error).message}`);
  }
  if ((mode & 0o077) !== 0)
    throw new CliError(
      `token file ${file} may be read by group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${file}`,
      "insecure-token-file",
      ExitCode.Usage,
    );
  const token = readFileSync(file, "utf8").trim();
  if (!TOKEN.test(token))
    throw usageError(`token file ${file} does not hold a Drover token (one line, as \`drover token create\` printed it)`);
  return token;
}

/**
 * DROVER_TOKEN; else --token-file or DROVER_TOKEN_FILE (which must exist); else the default file
 * (~/.config/drover/token) or the lab's, if there. Undefined when there is none: the API then says 401.
 */
export function resolveToken(flagFile: string | undefined): string | undefined {
  const env = process.env["DROVER_TOKEN"]?.trim();
  if (env) {
    if (!TOKEN.test(env)) throw usageError("DROVER_TOKEN does not hold a Drover token");
    return env;
  }
  const named = flagFile ?? (process.env["DROVER_TOKEN_FILE"] || undefined);
  if (named) return readTokenFile(named);
  for (const f of [defaultTokenFile(), join(labDir(), LAB_TOKEN_FILE)]) {
    try {
      statSync(f);
    } catch {
      continue;
    }
    return readTokenFile(f);
  }
  return undefined;
}

/** --ca-file or DROVER_CA_FILE: a PEM CA the HTTPS API's certificate is checked against (besides the system's). */
export function resolveCa(flagFile: string | undefined): Buffer | undefined {
  const f = flagFile ?? (process.env["DROVER_CA_FILE"] || undefined);
  if (!f) return undefined;
  try {
    return readFileSync(f);
  } catch (e) {
    throw usageError(`CA file ${f}: ${(e as Error).message}`);
  }
}
