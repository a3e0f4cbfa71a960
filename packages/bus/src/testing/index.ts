export { NatsServer, REFUSED_PORT, freePort, type NatsServerOptions } from "./nats-server.js";
export { NatsCluster, type NatsClusterOptions, type MetaView } from "./nats-cluster.js";
