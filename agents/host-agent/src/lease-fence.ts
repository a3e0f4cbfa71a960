import { join } from "node:path";
import { z } from "zod";
import type { Logger } from "@drover/protocol";
import { AgentError, AgentErrorCode } from "./errors.js";
import { readStateFile, writeStateFile } from "./state-file.js";

/** Where the highest lease revision is kept, beside the command journal in the agent's state dir. */
export function leaseFenceFile(stateDir: string): string {
  return join(stateDir, "agent-lease.json");
}

const FenceFile = z.object({ v: z.literal(1), host: z.string(), highestLeaseRevision: z.number().int().nonnegative() });

/**
 * Fencing of deposed leaders: a command whose lease revision is below the highest this agent has
 * seen is refused. The highest is kept on disk (synced before a command carrying a new one runs), so
 * an agent restarted after a new leader took over still refuses the old one.
 */
export class LeaseFence {
  private highest = 0;

  constructor(
    private readonly log: Logger,
    private readonly store?: { file: string; host: string },
  ) {
    if (store)
      this.highest = readStateFile({ ...store, log }, FenceFile, "lease fence file (fencing from revision 0)")?.highestLeaseRevision ?? 0;
  }

  get highestSeen(): number {
    return this.highest;
  }

  /** A refusal for a command from a deposed leader; otherwise notes its revision as the highest seen. */
  check(revision: number | undefined): AgentError | undefined {
    if (revision === undefined) return undefined;
    const highest = this.highest;
    if (revision >= highest) {
      if (revision > highest) this.raise(revision);
      return undefined;
    }
    this.log.warn({ revision, highest }, "refused a command from a deposed leader");
    return new AgentError(
      AgentErrorCode.StaleLeaseRevision,
      `stale leader: the command's lease revision ${revision} is below ${highest}, the highest this agent has seen`,
    );
  }

  private raise(revision: number): void {
    this.highest = revision;
    const s = this.store;
    if (!s) return;
    try {
      writeStateFile(s.file, { v: 1, host: s.host, highestLeaseRevision: revision });
    } catch (e) {
      // Still fenced in memory; only a restart would forget this revision.
      this.log.error({ err: e, file: s.file, revision }, "highest lease revision not written");
    }
  }
}
