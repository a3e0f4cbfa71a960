import type { Destination, DestinationFacts } from "@drover/protocol";
import { AgentError, AgentErrorCode } from "./errors.js";

/**
 * Defence in depth behind the NATS permissions: a VM goes only to a host this agent knows from the
 * cluster's own reports, only to the libvirtd that host itself reports (`migrationUri`), and, when
 * the command names the destination's host UUID, only if that host reports the same UUID (`hostUuid`,
 * its libvirtd's capabilities). So a command naming an attacker's libvirtd, or a host as it was
 * before it was replaced, is refused. Preflight also asks the libvirtd at the URI for its UUID.
 * `peerReport` is the destination's latest report on this cluster's subjects (waiting a little for
 * a first one) or, when newer, the one the scheduler sent with a preflight (`PeerReports.offer`), or
 * null when none was ever seen. Returns that report.
 */
export async function verifyDestination(
  dest: Destination,
  cluster: string,
  peerReport: (host: string) => Promise<DestinationFacts | null>,
): Promise<DestinationFacts> {
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
  // A command without a UUID comes from a scheduler older than the field; the URI check still holds.
  if (dest.hostUuid !== undefined && dest.hostUuid !== r.hostUuid) {
    throw new AgentError(
      AgentErrorCode.DestinationUuidMismatch,
      `destination ${dest.host} reports host UUID ${r.hostUuid ?? "(none)"}, but the command names ${dest.hostUuid}`,
    );
  }
  return r;
}
