import { Connection } from "@drover/libvirt";
const c = await Connection.open(process.argv[2] as string);
await new Promise((r) => setTimeout(r, 3000));
const t0 = process.cpuUsage();
await new Promise((r) => setTimeout(r, 30000));
const u = process.cpuUsage(t0);
console.log("libvirt idle after warmup: cpu ms/30s", (u.user + u.system) / 1000);
await c.close();
