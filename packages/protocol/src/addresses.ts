// Addresses in URLs. Traffic to a loopback address never leaves the machine: the apps allow plain
// (unencrypted or unauthenticated) connections only there unless an operator says otherwise.

const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** ::1 written out or not, and IPv4-mapped 127.x (URLs write ::ffff:127.0.0.1 as ::ffff:7f00:1). */
const IPV6_LOOPBACK = /^(::1|0{0,4}(:0{0,4}){6}:0{0,3}1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4})$/i;

/**
 * Whether a host (a name or an address, IPv6 with or without brackets) is this machine's loopback:
 * `localhost`, 127.0.0.0/8 or ::1. Any other name counts as remote: what it resolves to can change.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  return h === "localhost" || IPV4_LOOPBACK.test(h) || IPV6_LOOPBACK.test(h);
}

/** Whether a URL is plain `http://` to a host that is not this machine's loopback (unparsable: false). */
export function isPlainHttpOffMachine(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "http:" && !isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}

/** `scheme://host:port`, an IPv6 address in brackets (`http://[::1]:7070`, not `http://::1:7070`). */
export function urlOf(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/** A URL as it may be shown or logged: a user and password written into it (`nats://u:p@host`) become `***`. */
export function shownUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//***@");
}
