import { join } from "node:path";
import { Lab, startGuest } from "@drover/lab";
import { silentLogger } from "@drover/protocol";
import { libvirtHypervisor } from "./src/libvirt-hypervisor.js";
const lab = await Lab.start({ hosts: 2, guests: 0, net: 21, stateDir: "/tmp/hadbg2/lab", natsPort: 4222, wolPort: 9 });
try {
  await startGuest(lab.host("h1"), { name: "d1", workload: { dirtyMb: 4, dirtyRate: 1 } });
  await new Promise((r) => setTimeout(r, 8000));
  const hv = libvirtHypervisor(silentLogger);
  const c = await hv.open(lab.host("h1").uri);
  const d = (await c.lookup("d1"))!;
  const t0 = Date.now();
  let done = false;
  const p = d.migrate(lab.host("h2").uri, {}, hv.flags.LIVE | hv.flags.PEER2PEER | hv.flags.PERSIST_DEST | hv.flags.UNDEFINE_SOURCE | hv.flags.UNSAFE).then(() => (done = true), (e) => { done = true; console.log("fail", e.message); });
  while (!done) {
    await new Promise((r) => setTimeout(r, 300));
    try { const j = await d.jobStats(false); console.log(Date.now() - t0, j?.type, j?.dataTotal, j?.dataRemaining, j?.memoryIteration); } catch (e) { console.log(Date.now() - t0, "ERR", (e as Error).message); }
  }
  await p;
  console.log("done", Date.now() - t0);
  await c.close();
} finally {
  await lab.stop();
}
