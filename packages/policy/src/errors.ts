import { DroverError } from "@drover/protocol";
import type { z } from "zod";

/** Bad input to the policy API: a snapshot, a config, policy arguments or a plan. */
export class PolicyInputError extends DroverError {
  override readonly name = "PolicyInputError";
  readonly code: string;
  /** Dotted path of the offending field, e.g. "config.forecast.windowSamples". */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown; code?: string }) {
    super(`${path}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.path = path;
    this.code = options?.code ?? "policy.bad-input";
  }

  static fromZod(root: string, error: z.ZodError): PolicyInputError {
    const first = error.issues[0];
    const path = [root, ...(first?.path ?? []).map(String)].join(".");
    return new PolicyInputError(path, first?.message ?? "invalid", { cause: error });
  }
}

/** A policy name that is not registered. */
export class UnknownPolicyError extends DroverError {
  override readonly name = "UnknownPolicyError";
  readonly code = "policy.unknown";
  constructor(
    readonly policy: string,
    known: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`unknown policy "${policy}" (known: ${known.join(", ")})`, options);
  }
}
