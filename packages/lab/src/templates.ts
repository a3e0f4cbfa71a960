import { badOption } from "./errors.js";
import type { LabHostState } from "./lab-host.js";
import type { LabInfo } from "./lab.js";
import type { SpawnSpec } from "./proc.js";
import { checkSpec } from "./supervisor.js";

/**
 * A command line that can cross a process boundary (labUp's keeper runs in another process, so
 * it cannot take functions). Every string may name placeholders, replaced per host:
 *   ${host} ${address} ${uri} ${mac} ${hostDir} ${labHostFile}   (agent only)
 *   ${nats} ${cluster} ${stateDir} ${net}                        (agent and scheduler)
 *   ${scheduler}                                                 (scheduler only: its number 1..N)
 */
export interface CommandTemplate {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

const PLACEHOLDER = /\$\{([A-Za-z]+)\}/g;

function expand(what: string, s: string, vars: Record<string, string>): string {
  return s.replace(PLACEHOLDER, (_, k: string) => {
    const v = vars[k];
    if (v === undefined)
      throw badOption(
        what,
        s,
        `placeholders among ${Object.keys(vars)
          .map((x) => `\${${x}}`)
          .join(" ")}`,
      );
    return v;
  });
}

export function expandTemplate(what: string, t: CommandTemplate, vars: Record<string, string>): SpawnSpec {
  const spec = checkSpec(what, t);
  return {
    cmd: expand(`${what}.cmd`, spec.cmd, vars),
    args: spec.args.map((a) => expand(`${what}.args`, a, vars)),
    ...(spec.env ? { env: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, expand(`${what}.env.${k}`, v, vars)])) } : {}),
    ...(spec.cwd ? { cwd: expand(`${what}.cwd`, spec.cwd, vars) } : {}),
  };
}

export function labVars(lab: LabInfo): Record<string, string> {
  return { nats: lab.natsUrl, cluster: lab.cluster, stateDir: lab.stateDir, net: String(lab.net) };
}

export function schedulerVars(lab: LabInfo, index: number): Record<string, string> {
  return { ...labVars(lab), scheduler: String(index) };
}

export function hostVars(h: LabHostState, lab: LabInfo): Record<string, string> {
  return {
    ...labVars(lab),
    host: h.name,
    address: h.address,
    uri: h.uri,
    mac: h.mac,
    hostDir: h.dir,
    labHostFile: `${h.dir}/lab-host.json`,
  };
}
