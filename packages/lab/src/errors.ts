export const LabErrorCode = {
  BadOption: "LAB_BAD_OPTION",
  CommandFailed: "LAB_COMMAND_FAILED",
  StartFailed: "LAB_START_FAILED",
  Timeout: "LAB_TIMEOUT",
  NotFound: "LAB_NOT_FOUND",
  Busy: "LAB_BUSY",
  ImageBuild: "LAB_IMAGE_BUILD",
} as const;
export type LabErrorCode = (typeof LabErrorCode)[keyof typeof LabErrorCode];

/** Every failure of the lab: `code` for programs, `message` naming what is wrong for people. */
export class LabError extends Error {
  override readonly name = "LabError";
  constructor(
    readonly code: LabErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function badOption(what: string, value: unknown, expected: string): LabError {
  return new LabError(LabErrorCode.BadOption, `${what}: got ${JSON.stringify(value)}, expected ${expected}`);
}
