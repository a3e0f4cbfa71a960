import type { Command } from "commander";

export function registerSimulateCommand(_program: Command): void {
  // Filled in by the issue that owns these commands.
}
