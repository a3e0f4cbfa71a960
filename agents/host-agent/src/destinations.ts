import type { Destination, DestinationFacts } from "@drover/protocol";
import type { AgentConfig } from "./config.js";
import { AgentError, AgentErrorCode } from "./errors.js";

/**
 * A destination as messages and logs name it: its host id, plus its cluster when the command names
 * one, since host ids are unique only within a cluster (h2 of cluster B is not this cluster's h2).
 */
export function destinationName(dest: { host: string; cluster?: string | undefined }): string {
  return dest.cluster === undefined ? dest.host : `${dest.host} (cluster ${dest.cluster})`;
}

/**
 * Defence in depth behind the NATS permissions: a VM goes only to a cluster this agent may move
 * guests into (its own, or one its `peerClusters` names), only to a host this agent knows from that
 * cluster's own reports, only to the libvirtd that host itself reports (`migrationUri`), and, when
 * the command names the destination's host UUID, only if that host reports the same UUID (`hostUuid`,
 * its libvirtd's capabilities). So a command naming an attacker's libvirtd, a cluster the operator
 * did not open to this host, or a host as it was before it was replaced, is refused. Preflight also
 * asks the libvirtd at the URI for its UUID. `peerReport(host, cluster)` is the destination's latest
 * report on that cluster's subjects (waiting a little for a first one) or, when newer, the one the
 * scheduler sent with a preflight (`PeerReports.offer`), or null when none was ever seen; it is asked
 * only for an allowed cluster. Returns that report (its `cluster` is the destination's).
 */
export async function verifyDestination(
  dest: Destination,
  own: Pick<AgentConfig, "cluster" | "peerClusters">,
  peerReport: (host: string, cluster: string) => Promise<DestinationFacts | null>,
): Promise<DestinationFacts> {
  const cluster = dest.cluster ?? own.cluster;
  if (cluster !== own.cluster && !own.peerClusters.includes(cluster)) {
    const allowed = own.peerClusters.length ? `it names ${own.peerClusters.join(", ")}` : "it names none";
    throw new AgentError(
      AgentErrorCode.DestinationClusterNotAllowed,
      `destination ${dest.host} is in cluster ${cluster}, which this agent's peerClusters does not name (${allowed}; ` +
        `this agent is in cluster ${own.cluster})`,
    );
  }
  const r = await peerReport(dest.host, cluster);
  const name = destinationName(dest);
  if (!r || r.host !== dest.host || r.cluster !== cluster) {
    throw new AgentError(
      AgentErrorCode.UnknownDestination,
      `unknown destination ${name}: no report from it was seen on cluster ${cluster}, so it is not a known host`,
    );
  }
  if (r.migrationUri !== dest.uri) {
    throw new AgentError(
      AgentErrorCode.DestinationUriMismatch,
      `destination ${name} reports migration URI ${r.migrationUri}, but the command names ${dest.uri}`,
    );
  }
  // A command without a UUID comes from a scheduler older than the field; the URI check still holds.
  if (dest.hostUuid !== undefined && dest.hostUuid !== r.hostUuid) {
    throw new AgentError(
      AgentErrorCode.DestinationUuidMismatch,
      `destination ${name} reports host UUID ${r.hostUuid ?? "(none)"}, but the command names ${dest.hostUuid}`,
    );
  }
  return r;
}
