/** Daemon configuration of one lab host (ARCHITECTURE.md, "The lab"). */
export interface HostDaemonConfig {
  address: string;
  hostUuid: string;
  migrationPortMin: number;
  migrationPortMax: number;
  libvirtdPort: number;
  /** Where QEMU reads the TLS certificates of a migration (VIR_MIGRATE_TLS). */
  migrationTlsDir: string;
}

export function libvirtdConf(c: HostDaemonConfig): string {
  return `# Written by @drover/lab; one libvirtd per lab host.
listen_tls = 0
listen_tcp = 1
auth_tcp = "none"
listen_addr = "${c.address}"
tcp_port = "${c.libvirtdPort}"
# Distinct per host, else libvirt refuses a migration "to the same host".
host_uuid = "${c.hostUuid}"
log_outputs = "3:stderr"
`;
}

export function qemuConf(c: HostDaemonConfig): string {
  return `# Written by @drover/lab.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
# No virtlogd: QEMU's stdio goes to a file the daemon writes itself.
stdio_handler = "file"
# Without this the destination QEMU lands in the source's cgroup (one machine, one cgroup tree).
cgroup_controllers = [ ]
# QEMU's private /dev namespace buys nothing in the lab and costs time at every start.
namespaces = [ ]
migration_address = "${c.address}"
migration_host = "${c.address}"
migration_port_min = ${c.migrationPortMin}
migration_port_max = ${c.migrationPortMax}
# A migration started with VIR_MIGRATE_TLS runs over TLS: the destination's QEMU serves
# server-cert.pem, the source's presents client-cert.pem, each verified against ca-cert.pem.
migrate_tls_x509_cert_dir = "${c.migrationTlsDir}"
migrate_tls_x509_verify = 1
`;
}
