import { execFileSync } from "node:child_process";
import { Lab, startGuest } from "@drover/lab";
import { silentLogger } from "@drover/protocol";
import { libvirtHypervisor } from "./src/libvirt-hypervisor.js";
const lab = await Lab.start({ hosts: 2, guests: 0, net: 22, stateDir: "/tmp/hadbg2/lab", natsPort: 4222, wolPort: 9 });
const H = [lab.host("h1"), lab.host("h2")];
try {
  await startGuest(H[0]!, { name: "d1", workload: { dirtyMb: 4, dirtyRate: 1 } });
  await new Promise((r) => setTimeout(r, 8000));
  const hv = libvirtHypervisor(silentLogger);
  const flags = hv.flags.LIVE | hv.flags.PEER2PEER | hv.flags.PERSIST_DEST | hv.flags.UNDEFINE_SOURCE | hv.flags.UNSAFE;
  let at = 0;
  for (const mode of ["virsh", "poll", "nopoll", "virsh", "poll", "nopoll"]) {
    await new Promise((r) => setTimeout(r, 3000));
    const src = H[at]!, dst = H[1 - at]!;
    const t0 = Date.now();
    if (mode === "virsh") execFileSync("virsh", ["-q", "-c", src.uri, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", "--unsafe", "d1", dst.uri]);
    else {
      const c = await hv.open(src.uri);
      const d = (await c.lookup("d1"))!;
      const t1 = Date.now();
      let done = false;
      const p = d.migrate(dst.uri, {}, flags).finally(() => (done = true));
      let first = 0;
      while (mode === "poll" && !done) {
        await new Promise((r) => setTimeout(r, 250));
        const j = await d.jobStats(false).catch(() => null);
        if (!first && j && j.dataTotal > 0) first = Date.now() - t1;
      }
      await p;
      console.log(mode, "open+lookup", t1 - t0, "first data at", first);
      d.free();
      await c.close();
    }
    console.log(mode, Date.now() - t0);
    at = 1 - at;
  }
} finally {
  await lab.stop();
}
