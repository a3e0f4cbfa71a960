// Namespace mode: the "NIC" of a lab host, run inside its network namespace (Node cannot bind a
// socket in another namespace). Listens for a Wake-on-LAN packet for the host's MAC on
// <address>:<wol port> and powers the host on from its lab-host.json.
import { join } from "node:path";
import { WakeListener } from "@drover/wol";
import { readFile } from "node:fs/promises";
import { LabHost, type LabHostState } from "./lab-host.js";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: nic-main.ts <hostDir>\n");
  process.exit(64);
}
const s = JSON.parse(await readFile(join(dir, "lab-host.json"), "utf8")) as LabHostState;
let busy = false;
await WakeListener.listen(s.wake.address, s.wake.port, s.wake.mac, () => {
  if (busy) return;
  busy = true;
  void (async () => {
    try {
      const host = await LabHost.load(dir);
      if (host.power === "off" || !host.running) await host.powerOn();
      process.stdout.write(`${new Date().toISOString()} woken\n`);
    } catch (e) {
      process.stdout.write(`${new Date().toISOString()} power on failed: ${String(e)}\n`);
    } finally {
      busy = false;
    }
  })();
});
process.stdout.write(`listening ${s.wake.address}:${s.wake.port} for ${s.wake.mac}\n`);
process.on("SIGTERM", () => process.exit(0));
