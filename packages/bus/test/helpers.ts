import { memoryLogger } from "@drover/protocol/testing";
import { Bus, type BusOptions } from "../src/index.js";
import type { NatsServer } from "../src/testing/index.js";

export async function connectTo(server: NatsServer, extra: Partial<BusOptions> = {}): Promise<Bus> {
  return Bus.connect({
    servers: [server.url],
    name: "bus-test",
    logger: memoryLogger(),
    reconnectTimeWaitMs: 100,
    reconnectJitterMs: 50,
    ...extra,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
