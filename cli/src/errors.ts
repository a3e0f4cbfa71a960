import { DroverError } from "@drover/protocol";

/** Exit codes of `drover`: scripts may rely on them (see README.md). */
export const ExitCode = {
  Ok: 0,
  /** The API refused the request or answered with an error; or an operation failed. */
  Failed: 1,
  /** Bad command line (unknown command, missing or malformed argument). */
  Usage: 2,
  /** A drain ended blocked: the host still runs VMs that cannot leave. */
  Blocked: 3,
  /** The scheduler could not be reached. */
  Unreachable: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI prints as `drover: <message>` and exits with `exitCode`. */
export class CliError extends DroverError {
  override readonly name: string = "CliError";
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: ExitCode = ExitCode.Failed,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, "usage", ExitCode.Usage);
}
