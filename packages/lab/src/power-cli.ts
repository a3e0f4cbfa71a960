// Lab power for agents and people: what `poweroff` and a BMC would be on a real host.
//   node --import tsx power-cli.ts off <hostDir>    refuses (exit 2) while a guest runs there
//   node --import tsx power-cli.ts on <hostDir>
//   node --import tsx power-cli.ts wake <mac> <address> [port]   unicast magic packet
// An agent that powers its own host off is stopped by this command: spawn it detached.
import { parseArgs } from "node:util";
import { sendMagicPacket, WOL_PORT } from "@drover/wol";
import { LabError, LabErrorCode } from "./errors.js";
import { LabHost } from "./lab-host.js";

const usage = "usage: power-cli.ts off|on <hostDir> | wake <mac> <address> [port]";

/** Exit 64 (EX_USAGE) with what is wrong and the usage. */
function misuse(what: string): never {
  process.stderr.write(`power-cli: ${what}\n${usage}\n`);
  process.exit(64);
}

function parse() {
  try {
    return parseArgs({ allowPositionals: true, options: { help: { type: "boolean", short: "h" } } });
  } catch (e) {
    return misuse((e as Error).message);
  }
}
const { values: args, positionals: words } = parse();
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const [verb, ...rest] = words;
const arity: [number, number] | undefined = verb === "off" || verb === "on" ? [1, 1] : verb === "wake" ? [2, 3] : undefined;
if (!arity) misuse(verb === undefined ? "no command" : `unknown command "${verb}"`);
if (rest.length < arity[0] || rest.length > arity[1])
  misuse(`${verb} takes ${arity[0] === arity[1] ? arity[0] : arity.join(" to ")} arguments, got ${rest.length}`);
const [a = "", b = "", c] = rest;
const port = c === undefined ? WOL_PORT : Number(c);
if (!Number.isInteger(port) || port < 1 || port > 65535) misuse(`port must be an integer 1..65535 (got ${c})`);

try {
  if (verb === "wake") {
    await sendMagicPacket({ mac: a, address: b, port }, { labSafe: true });
  } else {
    const host = await LabHost.load(a);
    if (verb === "off") await host.powerOff();
    else await host.powerOn();
    process.stdout.write(`${JSON.stringify({ host: host.name, power: host.power })}\n`);
  }
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof LabError && e.code === LabErrorCode.Busy ? 2 : 1);
}
