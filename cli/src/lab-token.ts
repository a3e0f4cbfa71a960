// The lab's API token: made with the scheduler's own `token create` (which writes its store; the
// CLI does not open SQLite) and written 0600 to <stateDir>/drover-api-token, where every later
// `drover` command looks when DROVER_TOKEN and ~/.config/drover/token are not there.
import { execFile } from "node:child_process";
import { writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { LAB_TOKEN_FILE } from "./api-auth.js";
import { CliError } from "./errors.js";
import { REPO_ROOT, SCHEDULER_BIN } from "./paths.js";

/**
 * A fresh admin token for the lab's scheduler `k` (a new name each time: the state dir may be reused).
 * Each scheduler has its own store, so each its own token: scheduler 1's in drover-api-token, k's in drover-api-token-<k>.
 */
export async function makeLabApiToken(stateDir: string, schedulerConfig: string, k = 1): Promise<string> {
  const name = `lab-${Date.now().toString(36)}`;
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(
      process.execPath,
      [SCHEDULER_BIN, "token", "create", "--config", schedulerConfig, "--role", "admin", "--name", name],
      { cwd: REPO_ROOT, timeout: 120_000 },
    ));
  } catch (e) {
    throw new CliError(
      `cannot make the lab's API token: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
      "lab-token",
    );
  }
  const token = stdout.trim();
  const file = join(stateDir, k === 1 ? LAB_TOKEN_FILE : `${LAB_TOKEN_FILE}-${k}`);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // an existing file keeps its mode on write
  return token;
}
