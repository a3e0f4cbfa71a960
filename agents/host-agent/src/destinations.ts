import type { Destination, HostReport } from "@drover/protocol";
import { AgentError, AgentErrorCode } from "./errors.js";

/**
 * Defence in depth behind the NATS permissions: a VM goes only to a host this agent knows from the
 * cluster's own reports, and only to the libvirtd that host itself reports (`migrationUri`), so a
 * command naming an attacker's libvirtd is refused. Reports carry no host UUID, so none is compared.
 * `peerReport` is the destination's latest report on this cluster's subjects (waiting a little for a
 * first one), or null when none was ever seen.
 */
export async function verifyDestination(
  dest: Destination,
  cluster: string,
  peerReport: (host: string) => Promise<HostReport | null>,
): Promise<void> {
  const r = await peerReport(dest.host);
  if (!r || r.host !== dest.host || r.cluster !== cluster) {
    throw new AgentError(
      AgentErrorCode.UnknownDestination,
      `unknown destination ${dest.host}: no report from it was seen on cluster ${cluster}, so it is not a known host`,
    );
  }
  if (r.migrationUri !== dest.uri) {
    throw new AgentError(
      AgentErrorCode.DestinationUriMismatch,
      `destination ${dest.host} reports migration URI ${r.migrationUri}, but the command names ${dest.uri}`,
    );
  }
}
