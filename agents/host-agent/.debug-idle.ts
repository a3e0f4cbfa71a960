import { Connection } from "@drover/libvirt";
const c = await Connection.open(process.argv[2] as string);
const mode = process.argv[3];
const t0 = process.cpuUsage();
for (let i = 0; i < 6; i++) {
  await new Promise((r) => setTimeout(r, 5000));
  if (mode === "stats") { await c.listDomains(); await c.allDomainStats(); }
}
const u = process.cpuUsage(t0);
const m = process.memoryUsage();
console.log(mode, "cpu ms", (u.user + u.system) / 1000, "rss MB", (m.rss / 1048576).toFixed(1), "heap", (m.heapUsed / 1048576).toFixed(1), "ext", (m.external/1048576).toFixed(1));
await c.close();
