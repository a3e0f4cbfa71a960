/** Codes of every error the simulator raises; stable, for scripts and tests. */
export const SimErrorCode = {
  badTraces: "SIM_BAD_TRACES",
  badOption: "SIM_BAD_OPTION",
  unknownPolicy: "SIM_UNKNOWN_POLICY",
  invariant: "SIM_INVARIANT",
  policyFailed: "SIM_POLICY_FAILED",
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

export class SimError extends Error {
  override readonly name = "SimError";
  readonly code: SimErrorCode;
  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
