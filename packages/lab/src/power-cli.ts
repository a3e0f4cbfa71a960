// Lab power for agents and people: what `poweroff` and a BMC would be on a real host.
//   node --import tsx power-cli.ts off <hostDir>    refuses (exit 2) while a guest runs there
//   node --import tsx power-cli.ts on <hostDir>
//   node --import tsx power-cli.ts wake <mac> <address> [port]   unicast magic packet
// An agent that powers its own host off is stopped by this command: spawn it detached.
import { sendMagicPacket, WOL_PORT } from "@drover/wol";
import { LabError, LabErrorCode } from "./errors.js";
import { LabHost } from "./lab-host.js";

const [verb, a, b, c] = process.argv.slice(2);
const usage = "usage: power-cli.ts off|on <hostDir> | wake <mac> <address> [port]";

try {
  if ((verb === "off" || verb === "on") && a) {
    const host = await LabHost.load(a);
    if (verb === "off") await host.powerOff();
    else await host.powerOn();
    process.stdout.write(`${JSON.stringify({ host: host.name, power: host.power })}\n`);
  } else if (verb === "wake" && a && b) {
    await sendMagicPacket({ mac: a, address: b, port: c ? Number(c) : WOL_PORT }, { labSafe: true });
  } else {
    process.stderr.write(`${usage}\n`);
    process.exit(64);
  }
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof LabError && e.code === LabErrorCode.Busy ? 2 : 1);
}
