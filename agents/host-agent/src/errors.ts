/** Error codes the agent puts in replies and results; stable strings for programs. */
export const AgentErrorCode = {
  InvalidConfig: "INVALID_CONFIG",
  VmNotOnHost: "VM_NOT_ON_HOST",
  VmBusy: "VM_BUSY",
  LibvirtUnavailable: "LIBVIRT_UNAVAILABLE",
  LibvirtError: "LIBVIRT_ERROR",
  VmsRunning: "VMS_RUNNING",
  PowerOffNotConfigured: "POWER_OFF_NOT_CONFIGURED",
  PowerOffFailed: "POWER_OFF_FAILED",
  UnsafeAddress: "UNSAFE_ADDRESS",
  UnknownMigration: "UNKNOWN_MIGRATION",
  UnknownCommand: "UNKNOWN_COMMAND",
  Timeout: "TIMEOUT",
  Aborted: "ABORTED",
  ShuttingDown: "SHUTTING_DOWN",
  InvalidXml: "INVALID_XML",
  Internal: "INTERNAL",
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

export class AgentError extends Error {
  override readonly name = "AgentError";
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A config file or environment value failed validation; `message` names every bad key. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = AgentErrorCode.InvalidConfig;
  constructor(
    message: string,
    readonly keys: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `{ code, message }` for replies/results, from any thrown value. */
export function errorInfo(e: unknown, fallback: AgentErrorCode = AgentErrorCode.Internal): { code: string; message: string } {
  if (e instanceof AgentError) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      code: typeof code === "string" && code ? code : typeof code === "number" ? `${fallback}_${code}` : fallback,
      message: e.message,
    };
  }
  return { code: fallback, message: String(e) };
}
