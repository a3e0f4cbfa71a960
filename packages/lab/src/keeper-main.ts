// The detached process of labUp(): runs the lab and holds what needs a living process (NATS and
// the Wake-on-LAN listeners) until SIGTERM. Output goes to <stateDir>/keeper.log.
import { Lab } from "./lab.js";
import { expandTemplate, hostVars, schedulerVars } from "./templates.js";
import type { LabUpOptions } from "./api.js";

const line = (obj: object, msg?: string) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...obj, msg })}\n`);
const logger = { debug: line, info: line, warn: line, error: line };

const opts = JSON.parse(process.argv[2] ?? "{}") as LabUpOptions;
const bridges = opts.bridges;
const lab = await Lab.start({
  ...(opts.hosts !== undefined ? { hosts: opts.hosts } : {}),
  ...(opts.guests !== undefined ? { guests: opts.guests } : {}),
  ...(opts.net !== undefined ? { net: opts.net } : {}),
  ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
  ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
  ...(opts.natsPort !== undefined ? { natsPort: opts.natsPort } : {}),
  ...(opts.natsNodes !== undefined ? { natsNodes: opts.natsNodes } : {}),
  ...(opts.schedulers !== undefined ? { schedulers: opts.schedulers } : {}),
  ...(opts.wolPort !== undefined ? { wolPort: opts.wolPort } : {}),
  ...(opts.guest !== undefined ? { guest: opts.guest } : {}),
  ...(bridges !== undefined ? { bridges: Array.isArray(bridges) ? bridges : (h: string) => bridges[h] ?? [] } : {}),
  ...(opts.agent ? { agentCommand: (h, info) => expandTemplate("agent", opts.agent!, hostVars(h, info)) } : {}),
  ...(opts.scheduler ? { schedulerCommand: (info, k) => expandTemplate(`scheduler(${k})`, opts.scheduler!, schedulerVars(info, k)) } : {}),
  ...(opts.network !== undefined ? { network: opts.network } : {}),
  ownerKind: "keeper",
  logger,
}).catch((e: unknown) => {
  logger.error({ err: String(e) }, "lab start failed");
  process.exit(1);
});

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "stopping lab");
  lab.stop().then(
    () => process.exit(0),
    (e: unknown) => {
      logger.error({ err: String(e) }, "lab stop failed");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
