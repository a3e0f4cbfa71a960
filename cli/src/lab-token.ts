// The lab's API token: made with the scheduler's own `token create` (which writes its store; the
// CLI does not open SQLite) and written 0600 to <stateDir>/drover-api-token, where every later
// `drover` command looks when DROVER_TOKEN and ~/.config/drover/token are not there.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { LAB_TOKEN_FILE } from "./api-auth.js";
import { CliError } from "./errors.js";
import { REPO_ROOT, SCHEDULER_BIN } from "./paths.js";

/** The names this module gives the lab's tokens: `lab-` and the time it made them, in base 36. */
const LAB_TOKEN_NAME = /^lab-[0-9a-z]+$/;

/**
 * A fresh admin token good on every scheduler of the lab (a new name each time: the state dir may be
 * reused): made on the first (`schedulerConfigs[0]`), written to <stateDir>/drover-api-token, and
 * registered from that file on the others (`token create --secret-file`), as an operator does for
 * schedulers of one cluster: the CLI sends a change to whichever leads, with the same token. The
 * tokens earlier `lab up`s made there are revoked (their files are overwritten, but a copy elsewhere
 * would still be good); tokens an operator made keep. A state dir without the token file has none
 * (every lab token was written there), and is not asked: a lab's start spawns no more than it must.
 */
export async function makeLabApiToken(stateDir: string, schedulerConfigs: readonly string[]): Promise<string> {
  const name = `lab-${Date.now().toString(36)}`;
  const file = join(stateDir, LAB_TOKEN_FILE);
  const [first, ...others] = schedulerConfigs;
  if (first === undefined) throw new CliError("the lab has no scheduler to make a token on", "lab-token");
  const tokenCreate = (config: string, ...more: string[]) => tokenCommand(config, ["create", "--role", "admin", "--name", name, ...more]);
  // Every lab token was written to this file: without it, no earlier lab up made tokens here.
  const earlier = existsSync(file);
  const token = (await tokenCreate(first)).trim();
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // an existing file keeps its mode on write
  for (const config of others) await tokenCreate(config, "--secret-file", file);
  for (const config of earlier ? schedulerConfigs : []) {
    const listed = await tokenCommand(config, ["list"]);
    for (const line of listed.split("\n")) {
      const [old, , state] = line.split("\t");
      if (old && old !== name && LAB_TOKEN_NAME.test(old) && state?.startsWith("active")) await tokenCommand(config, ["revoke", old]);
    }
  }
  return token;
}

/** `drover-scheduler token <args> --config <config>`: its stdout. */
async function tokenCommand(config: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [SCHEDULER_BIN, "token", ...args, "--config", config], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
    return stdout;
  } catch (e) {
    throw new CliError(
      `cannot ${args[0]} the lab's API tokens (${config}): ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
      "lab-token",
    );
  }
}
