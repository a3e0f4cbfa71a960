import { Command, type OutputConfiguration } from "commander";
import { registerApiCommands } from "./commands/api.js";
import { registerCredentialsCommand } from "./commands/credentials.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerInstallCommand } from "./commands/install.js";
import { registerLabCommands } from "./commands/lab.js";
import { registerSimulateCommand } from "./commands/simulate.js";
import { registerTokenCommands } from "./commands/token.js";

/**
 * The `drover` CLI: a thin front over the scheduler's HTTP API, plus `lab`, `demo` and `simulate`.
 * Parse errors throw a CommanderError (exitOverride) instead of exiting; `output` replaces where
 * help and parse errors are written (set before the subcommands, which inherit it).
 */
export function buildProgram(output?: OutputConfiguration): Command {
  const program = new Command("drover")
    .description("Live-migration load balancer and power manager for KVM clusters")
    .showHelpAfterError()
    .exitOverride();
  if (output) program.configureOutput(output);
  registerApiCommands(program);
  registerLabCommands(program);
  registerCredentialsCommand(program);
  registerDemoCommand(program);
  registerInstallCommand(program);
  registerSimulateCommand(program);
  registerTokenCommands(program);
  return program;
}
