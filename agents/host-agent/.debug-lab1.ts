import { Lab } from "@drover/lab";
const lab = await Lab.start({ hosts: 1, guests: 0, net: 22, stateDir: "/tmp/hadbg3/lab", natsPort: 4222, wolPort: 9 });
console.log("up", lab.host("h1").uri);
process.on("SIGTERM", async () => { await lab.stop(); process.exit(0); });
setInterval(() => {}, 1 << 30);
