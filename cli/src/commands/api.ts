import type { Command } from "commander";

export function registerApiCommands(_program: Command): void {
  // Filled in by the issue that owns these commands.
}
