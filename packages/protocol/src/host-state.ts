// A host's state as the scheduler judges it: the one list the store persists, the API reports and
// the scheduler computes (from its own mode for the host and whether the host's reports arrive).
import { z } from "zod";

export const HostStates = ["healthy", "draining", "maintenance", "standby", "waking", "unreachable", "powering-off"] as const;
export const HostState = z.enum(HostStates);
export type HostState = z.infer<typeof HostState>;

/**
 * The states the scheduler gives a host only while its reports arrive and its libvirtd answers
 * (`ClusterState.stateOf`; it says "unreachable" otherwise): seeing one, a client knows the host's
 * agent was heard. The others follow the scheduler's own power actions.
 */
export const ReportingStates: ReadonlySet<HostState> = new Set<HostState>(["healthy", "draining", "maintenance"]);
