import { join } from "node:path";
import { Lab, startGuest } from "@drover/lab";
import { AGENT_MAIN, writeAgentConfig } from "./test/helpers.js";
const dir = "/tmp/hadbg";
const config = await writeAgentConfig(dir);
const lab = await Lab.start({
  hosts: 2, guests: 0, net: 21, stateDir: join(dir, "lab"), natsPort: 4222, wolPort: 9,
  bridges: (h) => (h === "h1" ? ["br-prod", "br-lab"] : ["br-lab"]),
  agentCommand: (h, info) => ({
    cmd: process.execPath, args: ["--import", "tsx", AGENT_MAIN, "--config", config],
    env: { DROVER_HOST: h.name, DROVER_CLUSTER: info.cluster, DROVER_LIBVIRT_URI: h.uri, DROVER_NATS_SERVERS: info.natsUrl, DROVER_LAB_HOST_FILE: join(h.dir, "lab-host.json") },
  }),
});
await startGuest(lab.host("h1"), { name: "dbg1", tags: ["web"], workload: { dirtyMb: 4, dirtyRate: 1 } });
console.log("lab up", lab.natsUrl, lab.host("h1").serialFile("dbg1"));
process.on("SIGTERM", async () => { await lab.stop(); process.exit(0); });
setInterval(() => {}, 1 << 30);
