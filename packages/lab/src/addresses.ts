import { WOL_PORT } from "@drover/wol";
import { badOption } from "./errors.js";

/**
 * Address plan of a lab. Everything derives from the `net` octet and the host index, so two labs
 * with distinct `net` values never share an address or a port:
 *   host i            127.0.<net>.<i>          (i = 1..MAX_HOSTS)
 *   NATS              127.0.<net>.254 (node k of a cluster: 127.0.<net>.<255-k>, routes on :6222, monitoring on :8222)
 *   libvirtd          <host address>:16509
 *   migration ports   MIGRATION_PORT_BASE + ((net * MAX_HOSTS + i - 1) * MIGRATION_PORTS_PER_HOST), 4 ports
 *                     (below the kernel's ephemeral range 32768+, so outgoing connections never take them)
 *   MAC               02:d7:00:00:<net>:<i>    (locally administered)
 */
export const MAX_HOSTS = 16;
export const LIBVIRTD_PORT = 16509;
export const MIGRATION_PORT_BASE = 16000;
export const MIGRATION_PORTS_PER_HOST = 4;
export const DEFAULT_NET = 1;
/** The lab wakes on the standard WoL port unless told otherwise. */
export const DEFAULT_WOL_PORT = WOL_PORT;

export function checkNet(net: unknown): number {
  if (typeof net !== "number" || !Number.isInteger(net) || net < 1 || net > 253) {
    throw badOption("net", net, "an integer 1..253 (the third octet of 127.0.<net>.x)");
  }
  return net;
}

export function checkIndex(index: unknown): number {
  if (typeof index !== "number" || !Number.isInteger(index) || index < 1 || index > MAX_HOSTS) {
    throw badOption("host index", index, `an integer 1..${MAX_HOSTS}`);
  }
  return index;
}

export function hostAddress(net: number, index: number): string {
  return `127.0.${checkNet(net)}.${checkIndex(index)}`;
}

/** At most this many nats-servers in a lab cluster (their addresses stay clear of the hosts'). */
export const MAX_NATS_NODES = 3;
export const NATS_ROUTE_PORT = 6222;
export const NATS_MONITOR_PORT = 8222;

/** Node 1 (the only server of a default lab) on .254, node 2 on .253, node 3 on .252. */
export function natsAddress(net: number, node = 1): string {
  if (!Number.isInteger(node) || node < 1 || node > MAX_NATS_NODES) throw badOption("nats node", node, `an integer 1..${MAX_NATS_NODES}`);
  return `127.0.${checkNet(net)}.${255 - node}`;
}

/** Client URLs of a lab's `nodes` nats-servers, what every `nats.servers` of its apps lists. */
export function natsUrls(net: number, nodes = 1, port = 4222): string[] {
  return Array.from({ length: nodes }, (_, k) => `nats://${natsAddress(net, k + 1)}:${port}`);
}

export function hostUri(address: string): string {
  return `qemu+tcp://${address}/system`;
}

export function migrationPorts(net: number, index: number): { min: number; max: number } {
  const slot = checkNet(net) * MAX_HOSTS + checkIndex(index) - 1;
  const min = MIGRATION_PORT_BASE + slot * MIGRATION_PORTS_PER_HOST;
  return { min, max: min + MIGRATION_PORTS_PER_HOST - 1 };
}

export function hostMac(net: number, index: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:d7:00:00:${hex(checkNet(net))}:${hex(checkIndex(index))}`;
}

/** Deterministic per (net, index) so a restarted host keeps its identity. */
export function hostUuid(net: number, index: number): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return `d7d7d7d7-0000-4000-8000-${hex(checkNet(net), 6)}${hex(checkIndex(index), 6)}`;
}
