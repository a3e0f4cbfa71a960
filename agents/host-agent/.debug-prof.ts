import { startGuest, LabHost } from "@drover/lab";
import { silentLogger } from "@drover/protocol";
import { HostAgent, resolveConfig } from "./src/index.js";
const h = await LabHost.load("/tmp/hadbg3/lab/hosts/h1");
if (process.argv[2] === "guests") {
  for (let i = 1; i <= 5; i++) await startGuest(h, { name: `p${i}`, memoryMiB: 64, workload: { dirtyMb: 0, dirtyRate: 0 } });
  process.exit(0);
}
const config = resolveConfig({ cluster: "prof", host: "p", nats: { servers: ["nats://127.0.22.254:4222"] }, libvirt: { uri: h.uri }, reportIntervalMs: 60000 });
const agent = await HostAgent.create(config, { logger: silentLogger });
for (let i = 0; i < 3; i++) await agent.reportOnce();
const t0 = process.cpuUsage();
const N = 20;
for (let i = 0; i < N; i++) { await agent.reportOnce(); await new Promise((r) => setTimeout(r, 500)); }
const u = process.cpuUsage(t0);
console.log("cpu ms per report (process, incl. 500ms idle each)", (u.user + u.system) / 1000 / N);
await agent.shutdown();
process.exit(0);
