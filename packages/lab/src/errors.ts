import { DroverError } from "@drover/protocol";

export const LabErrorCode = {
  BadOption: "lab.bad-option",
  CommandFailed: "lab.command-failed",
  StartFailed: "lab.start-failed",
  Timeout: "lab.timeout",
  NotFound: "lab.not-found",
  Busy: "lab.busy",
  ImageBuild: "lab.image-build",
} as const;
export type LabErrorCode = (typeof LabErrorCode)[keyof typeof LabErrorCode];

/** Every failure of the lab: `code` for programs, `message` naming what is wrong for people. */
export class LabError extends DroverError {
  override readonly name = "LabError";
  constructor(
    readonly code: LabErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function badOption(what: string, value: unknown, expected: string): LabError {
  return new LabError(LabErrorCode.BadOption, `${what}: got ${JSON.stringify(value)}, expected ${expected}`);
}
