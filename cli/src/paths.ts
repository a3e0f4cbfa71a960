import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (cli/src/.. /..): the lab spawns the agent and scheduler bins from here. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const AGENT_BIN = join(REPO_ROOT, "agents", "host-agent", "bin", "drover-agent.js");
export const SCHEDULER_BIN = join(REPO_ROOT, "scheduler", "bin", "drover-scheduler.js");
