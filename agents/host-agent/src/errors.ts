import { DroverError } from "@drover/protocol";

/** Error codes the agent puts in replies and results; stable strings for programs. */
export const AgentErrorCode = {
  InvalidConfig: "invalid-config",
  VmNotOnHost: "vm-not-on-host",
  VmBusy: "vm-busy",
  LibvirtUnavailable: "libvirt-unavailable",
  LibvirtError: "libvirt-error",
  VmsRunning: "vms-running",
  PowerOffNotConfigured: "power-off-not-configured",
  PowerOffFailed: "power-off-failed",
  UnsafeAddress: "unsafe-address",
  UnknownMigration: "unknown-migration",
  UnknownCommand: "unknown-command",
  UnknownDestination: "unknown-destination",
  /** The destination is in another cluster that this agent's `peerClusters` does not name. */
  DestinationClusterNotAllowed: "destination-cluster-not-allowed",
  DestinationUriMismatch: "destination-uri-mismatch",
  DestinationUuidMismatch: "destination-uuid-mismatch",
  InvalidXml: "invalid-xml",
  Timeout: "timeout",
  Aborted: "aborted",
  /** The destination's libvirtd went away during the migration (crash, restart, network). */
  DestinationLost: "destination-lost",
  /** The destination did not answer over the network from the source when the migration failed (link down). */
  DestinationUnreachable: "destination-unreachable",
  /** A migration ended while the agent was down (restart) or this host's libvirtd was, without moving the VM. */
  MigrationInterrupted: "migration-interrupted",
  /** This host's own libvirtd went away during the migration: where the VM runs, once it is back, decides the outcome. */
  SourceLibvirtdLost: "source-libvirtd-lost",
  /** A post-copy move broke after the switch and did not complete: the guest's memory is split between the hosts, it runs on neither. */
  PostCopyBroken: "post-copy-broken",
  ShuttingDown: "shutting-down",
  /** The command came from a deposed leader: its lease revision is below one already seen. */
  StaleLeaseRevision: "stale-lease-revision",
  /** A command whose options contradict each other. */
  InvalidCommand: "invalid-command",
  /** A move would leave a disk behind: it is on storage the destination does not share, and the command does not copy storage. */
  LocalDisk: "local-disk",
  /** A copy-storage move could not create a disk's image on the destination (nothing moved). */
  DestinationImage: "destination-image",
  Internal: "internal",
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

/** A command the agent refuses (commands.ts replies "refused" for these, "failed" for anything else). */
export class AgentError extends DroverError {
  override readonly name = "AgentError";
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A config file or environment value failed validation; `message` names every bad key. */
export class ConfigError extends DroverError {
  override readonly name = "ConfigError";
  readonly code = AgentErrorCode.InvalidConfig;
  constructor(
    message: string,
    readonly keys: string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A libvirt call took longer than allowed: a failure, not a refusal. */
export class CallTimeoutError extends DroverError {
  override readonly name = "CallTimeoutError";
  readonly code = AgentErrorCode.Timeout;
}

/** `{ code, message }` for replies/results, from any thrown value. */
export function errorInfo(e: unknown, fallback: AgentErrorCode = AgentErrorCode.Internal): { code: string; message: string } {
  if (e instanceof DroverError) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { code: typeof code === "string" && code ? code : fallback, message: e.message };
  }
  return { code: fallback, message: String(e) };
}
