import { Command, CommanderError } from "commander";
import { registerApiCommands } from "./commands/api.js";
import { registerCredentialsCommand } from "./commands/credentials.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerLabCommands } from "./commands/lab.js";
import { registerSimulateCommand } from "./commands/simulate.js";
import { registerTokenCommands } from "./commands/token.js";
import { CliError, ExitCode } from "./errors.js";

// `drover hosts | head` closes stdout early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

// The `drover` CLI: a thin front over the scheduler's HTTP API, plus `lab`, `demo` and `simulate`.
const program = new Command("drover")
  .description("Live-migration load balancer and power manager for KVM clusters")
  .showHelpAfterError()
  .exitOverride();

registerApiCommands(program);
registerLabCommands(program);
registerCredentialsCommand(program);
registerDemoCommand(program);
registerSimulateCommand(program);
registerTokenCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 1 ? ExitCode.Usage : err.exitCode);
  console.error(`drover: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof CliError ? err.exitCode : ExitCode.Failed);
}
