import { DroverError } from "@drover/protocol";

/** Codes of every error the simulator raises; stable, for scripts and tests. */
export const SimErrorCode = {
  badTraces: "sim.bad-traces",
  badOption: "sim.bad-option",
  unknownPolicy: "sim.unknown-policy",
  invariant: "sim.invariant",
  policyFailed: "sim.policy-failed",
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

export class SimError extends DroverError {
  override readonly name = "SimError";
  readonly code: SimErrorCode;
  constructor(code: SimErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
