import { connect } from "node:net";

/** libvirt's default port per transport of a remote URI (qemu+tcp://host/system ...). */
const DEFAULT_PORTS: Record<string, number> = { tcp: 16509, tls: 16514, ssh: 22, libssh: 22, libssh2: 22 };

/**
 * Whether a peer's libvirtd can be reached over the network from here, asked with a bare TCP
 * connect to its URI's host and port: "answers" (it accepts), "refused" (the host answers, nothing
 * listens: libvirtd is down), "silent" (no answer within `timeoutMs`, or no route: the network
 * between the hosts is down). null for a URI without a network address (local, unix socket).
 */
export type PeerReach = "answers" | "refused" | "silent";

export function libvirtAddress(uri: string): { host: string; port: number } | null {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return null;
  }
  const transport = u.protocol.replace(/:$/, "").split("+")[1] ?? "tls";
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[transport];
  if (u.hostname === "" || port === undefined || transport === "unix") return null;
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port };
}

export function peerReach(uri: string, timeoutMs: number): Promise<PeerReach | null> {
  const a = libvirtAddress(uri);
  if (!a) return Promise.resolve(null);
  return new Promise((resolve) => {
    const s = connect({ host: a.host, port: a.port });
    const done = (r: PeerReach) => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done("silent"), timeoutMs);
    s.once("connect", () => done("answers"));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : "silent"));
  });
}
