import { CommanderError } from "commander";
import { CliError, ExitCode } from "./errors.js";
import { buildProgram } from "./program.js";

// `drover hosts | head` closes stdout early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 1 ? ExitCode.Usage : err.exitCode);
  console.error(`drover: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof CliError ? err.exitCode : ExitCode.Failed);
}
