export { NatsServer, freePort, type NatsServerOptions } from "./nats-server.js";
